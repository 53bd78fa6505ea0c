//! The Lua libraries that Redis makes available to scripts (`bit`, `struct`, `cjson`,
//! `cmsgpack`), implemented in Rust over `mlua` so that scripts written for Redis run unchanged.
