//! The privileges a COPY into a relation checks, and the range table its executor state
//! starts from: in the range table entry up to PostgreSQL 15, in a separate RTEPermissionInfo
//! from 16 (ExecCheckPermissions; ExecInitRangeTable takes the list, and from 18 the
//! unpruned relations too).

use pgrx::pg_sys;

/// Requires INSERT on the relation of `nsitem` (the only one of `pstate`'s range table) for
/// the attribute numbers in `attnums`, as COPY FROM checks it; raises 42501 otherwise.
///
/// # Safety
/// `nsitem` was just added to `pstate` by addRangeTableEntryForRelation and `attnums` is an
/// integer list of attribute numbers of that relation.
pub unsafe fn check_insert(
    pstate: *mut pg_sys::ParseState,
    nsitem: *mut pg_sys::ParseNamespaceItem,
    attnums: *mut pg_sys::List,
) {
    // SAFETY: as the caller guarantees.
    unsafe {
        #[cfg(any(feature = "pg14", feature = "pg15"))]
        let holder = (*nsitem).p_rte;
        #[cfg(not(any(feature = "pg14", feature = "pg15")))]
        let holder = (*nsitem).p_perminfo;
        (*holder).requiredPerms = pg_sys::ACL_INSERT as pg_sys::AclMode;
        for i in 0..(*attnums).length as usize {
            let attno = (*(*attnums).elements.add(i)).int_value;
            (*holder).insertedCols = pg_sys::bms_add_member(
                (*holder).insertedCols,
                attno - pg_sys::FirstLowInvalidHeapAttributeNumber,
            );
        }
        #[cfg(any(feature = "pg14", feature = "pg15"))]
        pg_sys::ExecCheckRTPerms((*pstate).p_rtable, true);
        #[cfg(not(any(feature = "pg14", feature = "pg15")))]
        pg_sys::ExecCheckPermissions((*pstate).p_rtable, (*pstate).p_rteperminfos, true);
    }
}

/// Sets up `estate`'s range table from `pstate`'s (one relation).
///
/// # Safety
/// `estate` is a fresh executor state and `pstate` the parse state [`check_insert`] checked.
pub unsafe fn init_range_table(estate: *mut pg_sys::EState, pstate: *mut pg_sys::ParseState) {
    // SAFETY: as the caller guarantees.
    unsafe {
        #[cfg(any(feature = "pg14", feature = "pg15"))]
        pg_sys::ExecInitRangeTable(estate, (*pstate).p_rtable);
        #[cfg(any(feature = "pg16", feature = "pg17"))]
        pg_sys::ExecInitRangeTable(estate, (*pstate).p_rtable, (*pstate).p_rteperminfos);
        #[cfg(feature = "pg18")]
        pg_sys::ExecInitRangeTable(
            estate,
            (*pstate).p_rtable,
            (*pstate).p_rteperminfos,
            pg_sys::bms_make_singleton(1),
        );
    }
}
