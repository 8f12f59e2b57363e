//! `hll`: HyperLogLog distinct counting, a drop-in for postgresql-hll.
//!
//! The SQL objects are declared by hand in `sql/hll.sql` (exact postgresql-hll signatures);
//! the functions they call live here: `io` (text, binary, typmod, casts), `functions`
//! (scalar functions and metadata), `hash` (hll_hash_*) and `aggregates`.

mod aggregates;
mod functions;
mod hash;
mod io;

use std::cell::Cell;

use rollup_core::hll::codec::{self, HllView};
use rollup_core::hll::HllParams;

use crate::fmgr::OrRaise;

pgrx::extension_sql_file!("../../sql/hll.sql", name = "hll");

/// postgresql-hll's per-session settings (hll_set_defaults, hll_set_max_sparse).
#[derive(Clone, Copy)]
struct Session {
    defaults: HllParams,
    max_sparse: i32,
}

thread_local! {
    static SESSION: Cell<Session> = const {
        Cell::new(Session {
            defaults: HllParams { log2m: 11, regwidth: 5, expthresh: -1, sparseon: true },
            max_sparse: -1,
        })
    };
}

fn session() -> Session {
    SESSION.with(Cell::get)
}

fn set_session(s: Session) {
    SESSION.with(|c| c.set(s));
}

/// Decodes and validates a stored hll argument, raising XX001 on bad bytes.
fn view(bytes: &[u8]) -> HllView<'_> {
    codec::decode(bytes).or_raise()
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test(error = "unknown hll schema version 2")]
    fn corrupt_text_input_is_rejected() {
        Spi::run("SELECT '\\x218b7f'::hll").unwrap();
    }

    #[pg_test]
    fn union_of_parts_equals_the_whole() {
        let whole = Spi::get_one::<String>(
            "SELECT hll_add_agg(hll_hash_integer(i))::text FROM generate_series(1, 5000) i",
        );
        let parts = Spi::get_one::<String>(
            "SELECT hll_union_agg(h)::text FROM (SELECT hll_add_agg(hll_hash_integer(i)) h FROM generate_series(1, 5000) i GROUP BY i % 13) s",
        );
        assert_eq!(whole.unwrap(), parts.unwrap());
    }

    #[pg_test]
    fn session_defaults_shape_new_sketches() {
        Spi::run("SELECT hll_set_defaults(12, 4, 0, 0)").unwrap();
        let shape = Spi::get_one::<String>(
            "SELECT hll_log2m(h) || ',' || hll_regwidth(h) FROM (SELECT hll_empty() h) s",
        );
        Spi::run("SELECT hll_set_defaults(11, 5, -1, 1)").unwrap();
        assert_eq!(shape.unwrap(), Some("12,4".to_string()));
    }
}
