//! Every pg_rollup setting, registered when the library loads.

use std::sync::atomic::{AtomicBool, Ordering};

use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting};
use rollup_core::topn::{DEFAULT_COUNTERS, MAX_COUNTERS};

/// postgresql-topn's setting: counters of `topn_add_agg(item)` and of jsonb conversions.
static TOPN_COUNTERS: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_COUNTERS as i32);

/// Whether postgresql-topn's library, loaded first in this backend, owns topn.number_of_counters:
/// then pg_rollup reads that setting instead of defining its own (PostgreSQL refuses a second
/// definition of a parameter).
static TOPN_COUNTERS_FOREIGN: AtomicBool = AtomicBool::new(false);

pub fn register() {
    let name = c"topn.number_of_counters";
    if defined_by_another_library(name) {
        TOPN_COUNTERS_FOREIGN.store(true, Ordering::Relaxed);
        return;
    }
    GucRegistry::define_int_guc(
        name,
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

/// topn.number_of_counters: pg_rollup's, or postgresql-topn's when its library owns it (whose
/// range is wider: a value pg_rollup does not take is refused where it is used, with 22023).
pub fn topn_counters() -> i64 {
    if !TOPN_COUNTERS_FOREIGN.load(Ordering::Relaxed) {
        return i64::from(TOPN_COUNTERS.get());
    }
    // SAFETY: the parameter exists (postgresql-topn defined it); the value is a C string
    // valid until the setting changes, copied at once.
    let value = unsafe {
        let p = pg_sys::GetConfigOption(c"topn.number_of_counters".as_ptr(), false, false);
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    value.trim().parse().unwrap_or(DEFAULT_COUNTERS as i64)
}
