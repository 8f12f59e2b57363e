//! pg_rollup's core: sketch algorithms and their byte codecs, free of any PostgreSQL
//! dependency so that they are tested with plain `cargo test`.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(clippy::missing_safety_doc)]

pub mod error;
pub mod hll;
pub mod keyset;
pub mod murmur3;
pub mod qsketch;
pub mod searches;
pub mod sketch;
pub mod topn;
pub mod varint;
pub mod watermark;

pub use error::{Error, ErrorKind, Result};

/// Starts fetching `lines` cache lines from `p` into the cache: a hint, which does not fault
/// whatever the address.
#[inline(always)]
pub fn prefetch(p: *const u8, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    for k in 0..lines {
        // SAFETY: a prefetch reads nothing the program sees and does not fault.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                p.wrapping_add(64 * k).cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, lines);
}
