//! Every pg_rollup setting, registered when the library loads.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use rollup_core::topn::{DEFAULT_COUNTERS, MAX_COUNTERS};

/// postgresql-topn's setting: counters of `topn_add_agg(item)` and of jsonb conversions.
pub static TOPN_COUNTERS: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_COUNTERS as i32);

pub fn register() {
    GucRegistry::define_int_guc(
        c"topn.number_of_counters",
        c"Number of counters a topn sketch keeps when the aggregate is not given one.",
        c"Read when an aggregate starts; on Citus pass the counters as topn_add_agg's argument instead, since a SET does not reach the workers.",
        &TOPN_COUNTERS,
        1,
        MAX_COUNTERS as i32,
        GucContext::Userset,
        GucFlags::default(),
    );
}
