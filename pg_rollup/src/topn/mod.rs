//! `topn`: the most frequent items with guaranteed bounds, replacing postgresql-topn.
//!
//! SQL in `sql/topn.sql`; the functions it calls: `io` (text/JSON, binary, casts),
//! `functions` (topn_add, topn_union, accessors) and `aggregates`.

mod aggregates;
mod functions;
mod io;

use pgrx::pg_sys;
use rollup_core::topn::codec::{self, TopNView};
use rollup_core::topn::{TopN, TopNSource};

use crate::fmgr::{bytes_datum, OrRaise};

pgrx::extension_sql_file!("../../sql/topn.sql", name = "topn");

/// Decodes and validates a stored topn argument, raising XX001 on bad bytes.
fn view(bytes: &[u8]) -> TopNView<'_> {
    codec::decode(bytes).or_raise()
}

/// The stored form of a sketch: its best `counters` items.
fn topn_datum<A: allocator_api2::alloc::Allocator + Clone>(t: &TopN<A>) -> pg_sys::Datum {
    let (entries, absent) = t.stored();
    bytes_datum(&codec::encode(t.counters(), t.total(), absent, &entries))
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn weighted_adds_and_union() {
        let top = Spi::get_one::<String>(
            "SELECT string_agg(item || ':' || frequency, ',') FROM topn(
                 (SELECT topn_add_agg(w, n::bigint) FROM (VALUES ('a', 5), ('b', 2), ('a', 1)) v(w, n))
                 + (SELECT topn_add(topn_add_agg('c'), 'b', 10)), 3)",
        );
        assert_eq!(top.unwrap(), Some("b:12,a:6,c:1".to_string()));
    }

    #[pg_test(error = "number of counters must be between 1 and 1000000, not 0")]
    fn zero_counters_are_refused() {
        Spi::run("SELECT topn_add_agg('x', 0)").unwrap();
    }
}
