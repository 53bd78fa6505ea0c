//! Data types and the sharded keyspace. No I/O.
pub mod bits;
pub mod glob;
pub mod lcs;
pub mod num;
