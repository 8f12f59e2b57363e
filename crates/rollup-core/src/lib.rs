//! pg_rollup's core: sketch algorithms and their byte codecs, free of any PostgreSQL
//! dependency so that they are tested with plain `cargo test`.

pub mod error;
pub mod hll;
pub mod keyset;
pub mod topn;
pub mod murmur3;

pub use error::{Error, ErrorKind, Result};
