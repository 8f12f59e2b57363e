//! Search sessions: instant-search keystrokes collapsed into searches (`sql/searches.sql`).
//! Here: the rule of which query continues which ([`rollup_core::searches`]).

use pgrx::pg_sys;
use rollup_core::searches::continues;

use crate::pg_v1_fn;

pgrx::extension_sql_file!(
    "../sql/searches.sql",
    name = "searches",
    requires = ["rollups"]
);

pg_v1_fn! {
    fn pg_rollup_search_continues / pg_finfo_pg_rollup_search_continues (call) {
        pg_sys::Datum::from(continues(call.bytes(0), call.bytes(1)))
    }
}
