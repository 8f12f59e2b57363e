//! Virtual transaction ids: (backend id, local id) up to PostgreSQL 16, (proc number, local
//! id) from 17. Either way the first part is -1 for a prepared transaction.

use pgrx::pg_sys;

/// The two parts of `v`.
pub fn parts(v: &pg_sys::VirtualTransactionId) -> (i32, u32) {
    #[cfg(any(feature = "pg14", feature = "pg15", feature = "pg16"))]
    let first = v.backendId;
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    let first = v.procNumber;
    (first, v.localTransactionId)
}

/// The virtual transaction id of parts `first`/`local`.
pub fn from_parts(first: i32, local: u32) -> pg_sys::VirtualTransactionId {
    pg_sys::VirtualTransactionId {
        #[cfg(any(feature = "pg14", feature = "pg15", feature = "pg16"))]
        backendId: first,
        #[cfg(any(feature = "pg17", feature = "pg18"))]
        procNumber: first,
        localTransactionId: local,
    }
}
