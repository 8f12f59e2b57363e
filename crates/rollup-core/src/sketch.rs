//! What every sketch type gives its aggregates: the extension's aggregate plumbing
//! (transition from stored sketches, combine, serialize, deserialize) is written once against
//! this trait, so a new sketch type implements it and its own add and final functions.

use allocator_api2::alloc::Allocator;

use crate::Result;

pub trait Sketch<A: Allocator + Clone>: Sized {
    /// A stored sketch, decoded and validated in place.
    type Stored<'b>;

    /// Decodes and validates a stored sketch (XX001 on bad bytes).
    fn decode(bytes: &[u8]) -> Result<Self::Stored<'_>>;

    /// A new sketch holding `stored`, whose memory comes from `alloc`.
    fn from_stored_in(stored: &Self::Stored<'_>, alloc: A) -> Self;

    /// A copy of this sketch whose memory comes from `alloc`.
    fn clone_in(&self, alloc: A) -> Self;

    /// Merges a stored sketch in.
    fn union_stored(&mut self, stored: &Self::Stored<'_>) -> Result<()>;

    /// Merges another sketch in.
    fn union_sketch(&mut self, other: &Self) -> Result<()>;

    /// The whole sketch as bytes, for partial aggregation (read back by [`Sketch::from_partial_in`]).
    fn to_partial(&self) -> Vec<u8>;

    /// A sketch from the bytes of [`Sketch::to_partial`], validated.
    fn from_partial_in(bytes: &[u8], alloc: A) -> Result<Self>;
}
