//! INFO (being written).
pub const REDIS_VERSION: &str = "7.2.4";
