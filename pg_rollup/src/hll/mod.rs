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
