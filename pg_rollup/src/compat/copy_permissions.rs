//! The privileges a COPY into a relation checks, and the range table its executor state
//! starts from: in the range table entry up to PostgreSQL 15, in a separate RTEPermissionInfo
//! from 16 (ExecCheckPermissions; ExecInitRangeTable takes the list, and from 18 the
//! unpruned relations too); and the words of a refusal to read a server-side file (changed in
//! 15 and in 16), which the loader raises as the server's COPY does.

use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode;

/// The error of a COPY from a server-side file (or program) by a role without
/// pg_read_server_files (pg_execute_server_program), worded as the server's own COPY words it.
pub fn server_side_denied(program: bool) -> ErrorReport {
    let (role, what) = if program {
        (
            "pg_execute_server_program",
            "to or from an external program",
        )
    } else {
        ("pg_read_server_files", "from a file")
    };
    #[cfg(feature = "pg14")]
    let report = ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("must be superuser or a member of the {role} role to COPY {what}"),
        "",
    );
    #[cfg(feature = "pg15")]
    let report = ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("must be superuser or have privileges of the {role} role to COPY {what}"),
        "",
    );
    #[cfg(not(any(feature = "pg14", feature = "pg15")))]
    let report = ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("permission denied to COPY {what}"),
        "",
    )
    .set_detail(format!(
        "Only roles with privileges of the \"{role}\" role may COPY {what}."
    ));
    report.set_hint(
        "Anyone can COPY to stdout or from stdin. psql's \\copy command also works for anyone.",
    )
}

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
