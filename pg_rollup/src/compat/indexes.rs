//! Checking and inserting index entries for a tuple the COPY loader stores: PostgreSQL 16 adds
//! `onlySummarizing` to ExecInsertIndexTuples, 18 adds the tuple's own id to
//! ExecCheckIndexConstraints.

use std::ptr::null_mut;

use pgrx::pg_sys;

/// Whether `slot` conflicts with no stored row on the unique indexes of `rri`.
///
/// # Safety
/// `rri` has its indexes open (ExecOpenIndices with speculative support) in `estate`, and
/// `slot` holds a tuple of its relation.
pub unsafe fn no_conflict(
    rri: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    estate: *mut pg_sys::EState,
) -> bool {
    let mut conflict = pg_sys::ItemPointerData::default();
    // SAFETY: as the caller guarantees; no arbiter list: every unique index counts.
    unsafe {
        #[cfg(not(feature = "pg18"))]
        return pg_sys::ExecCheckIndexConstraints(rri, slot, estate, &mut conflict, null_mut());
        #[cfg(feature = "pg18")]
        return pg_sys::ExecCheckIndexConstraints(
            rri,
            slot,
            estate,
            &mut conflict,
            null_mut(),
            null_mut(),
        );
    }
}

/// Inserts the index entries of the tuple just stored from `slot`.
///
/// # Safety
/// As for [`no_conflict`], and the tuple of `slot` was just inserted into the relation.
pub unsafe fn insert_entries(
    rri: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    estate: *mut pg_sys::EState,
) {
    // SAFETY: as the caller guarantees; not an update, no speculative insertion, all indexes.
    unsafe {
        #[cfg(any(feature = "pg14", feature = "pg15"))]
        let recheck =
            pg_sys::ExecInsertIndexTuples(rri, slot, estate, false, false, null_mut(), null_mut());
        #[cfg(not(any(feature = "pg14", feature = "pg15")))]
        let recheck = pg_sys::ExecInsertIndexTuples(
            rri,
            slot,
            estate,
            false,
            false,
            null_mut(),
            null_mut(),
            false,
        );
        pg_sys::list_free(recheck);
    }
}
