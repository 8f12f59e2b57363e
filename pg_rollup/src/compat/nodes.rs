//! String nodes of the raw parse tree: `String` with `sval` from PostgreSQL 15, a `Value` with
//! `val.str` in 14.

use std::ffi::c_char;

use pgrx::pg_sys;

/// The characters of a T_String node.
///
/// # Safety
/// `node` points to a node tagged T_String.
pub unsafe fn string_chars(node: *mut pg_sys::Node) -> *const c_char {
    #[cfg(feature = "pg14")]
    // SAFETY: a T_String node is a Value whose union holds the string.
    unsafe {
        (*(node as *mut pg_sys::Value)).val.str_
    }
    #[cfg(not(feature = "pg14"))]
    // SAFETY: a T_String node is a String.
    unsafe {
        (*(node as *mut pg_sys::String)).sval
    }
}
