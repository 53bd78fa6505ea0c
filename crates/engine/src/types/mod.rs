//! The collection types held in [`Object`](crate::object::Object), one module per type (like
//! Redis's t_list.c, t_set.c, t_hash.c, t_zset.c, t_stream.c). Each type is a pure data structure: the
//! server's command families parse arguments and call into it while holding the shard lock.

pub mod hash;
pub mod list;
pub mod packbuf;
pub mod set;
pub mod stream;
pub mod zset;
