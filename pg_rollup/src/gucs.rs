//! Every pg_rollup setting, registered when the library loads.

use std::sync::atomic::{AtomicBool, Ordering};

use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting};
use rollup_core::topn::{DEFAULT_COUNTERS, MAX_COUNTERS};

/// postgresql-topn's setting: counters of `topn_add_agg(item)` and of jsonb conversions.
static TOPN_COUNTERS: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_COUNTERS as i32);

/// Whether topn.number_of_counters is left to postgresql-topn: its library was loaded first in
/// this backend and defined it, or it is installed on the server and may be loaded later (its
/// definition would fail, XX000 "attempt to redefine parameter", if pg_rollup's came first). Then
/// pg_rollup reads the setting by name: postgresql-topn's once its library is loaded, else the
/// value SET (a placeholder) or the default.
static TOPN_COUNTERS_FOREIGN: AtomicBool = AtomicBool::new(false);

const TOPN_COUNTERS_NAME: &std::ffi::CStr = c"topn.number_of_counters";

pub fn register() {
    if defined_by_another_library(TOPN_COUNTERS_NAME) || postgresql_topn_installed() {
        TOPN_COUNTERS_FOREIGN.store(true, Ordering::Relaxed);
        return;
    }
    GucRegistry::define_int_guc(
        TOPN_COUNTERS_NAME,
        c"Number of counters a topn sketch keeps when the aggregate is not given one.",
        c"Read when an aggregate starts; on Citus pass the counters as topn_add_agg's argument instead, since a SET does not reach the workers.",
        &TOPN_COUNTERS,
        1,
        MAX_COUNTERS as i32,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// Whether a library loaded earlier defined parameter `name` (a value SET before any library
/// defined it is only a placeholder, which a definition takes over).
fn defined_by_another_library(name: &std::ffi::CStr) -> bool {
    // SAFETY: looks a parameter up by its NUL-terminated name; missing_ok: 0 when there is none.
    let flags = unsafe { pg_sys::GetConfigOptionFlags(name.as_ptr(), true) };
    // SAFETY: as above; NULL when there is no such parameter.
    let exists = !unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) }.is_null();
    exists && flags & pg_sys::GUC_CUSTOM_PLACEHOLDER as i32 == 0
}

/// Whether postgresql-topn's library is in the server's library directory.
fn postgresql_topn_installed() -> bool {
    // SAFETY: pkglib_path is the server's NUL-terminated library directory, set at start-up and
    // never changed after; it is read through a raw pointer and copied at once.
    let dir = unsafe { std::ffi::CStr::from_ptr(std::ptr::addr_of!(pg_sys::pkglib_path).cast()) };
    let dir = std::path::PathBuf::from(&*dir.to_string_lossy());
    ["topn.so", "topn.dylib"]
        .iter()
        .any(|f| dir.join(f).exists())
}

/// topn.number_of_counters: pg_rollup's, or read by name when left to postgresql-topn; a value
/// pg_rollup does not take (postgresql-topn's range is wider) is refused here, with 22023.
pub fn topn_counters() -> i64 {
    if !TOPN_COUNTERS_FOREIGN.load(Ordering::Relaxed) {
        return i64::from(TOPN_COUNTERS.get());
    }
    // SAFETY: missing_ok: NULL when nothing defined or SET the parameter; otherwise a C string
    // valid until the setting changes, copied at once.
    let value = unsafe {
        let p = pg_sys::GetConfigOption(TOPN_COUNTERS_NAME.as_ptr(), true, false);
        if p.is_null() {
            return DEFAULT_COUNTERS as i64;
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    match value.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_COUNTERS as i64).contains(&n) => n,
        Ok(n) => {
            // (as PostgreSQL words it when it checks the setting itself)
            pgrx::ereport!(
                ERROR,
                pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("{n} is outside the valid range for parameter \"topn.number_of_counters\" (1 .. {MAX_COUNTERS})")
            );
        }
        Err(_) => {
            pgrx::ereport!(
                ERROR,
                pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("invalid value for parameter \"topn.number_of_counters\": \"{value}\""),
                format!("A whole number of counters from 1 to {MAX_COUNTERS}.")
            );
        }
    }
}
