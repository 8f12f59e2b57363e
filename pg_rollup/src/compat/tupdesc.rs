//! A tuple descriptor's attributes: an array in the descriptor up to PostgreSQL 17; from 18 it
//! follows the array of compact attributes.

use pgrx::pg_sys;

/// Attribute `i` (0-based, below `natts`) of `desc`.
///
/// # Safety
/// `desc` points to a valid tuple descriptor and `i < natts`.
#[inline]
pub unsafe fn attr<'a>(desc: pg_sys::TupleDesc, i: usize) -> &'a pg_sys::FormData_pg_attribute {
    #[cfg(not(feature = "pg18"))]
    // SAFETY: `attrs` holds `natts` attributes and the caller keeps `i` below that.
    unsafe {
        &*(*desc).attrs.as_ptr().add(i)
    }
    #[cfg(feature = "pg18")]
    // SAFETY: PostgreSQL 18 lays the `natts` attributes out right after the `natts` compact
    // attributes (TupleDescAttrAddress); the caller keeps `i` below `natts`.
    unsafe {
        let first = (*desc)
            .compact_attrs
            .as_ptr()
            .add((*desc).natts as usize)
            .cast::<pg_sys::FormData_pg_attribute>();
        &*first.add(i)
    }
}
