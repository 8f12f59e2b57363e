//! hll_add_agg and hll_union_agg: hll's transition from hashes, and its shared aggregate
//! plumbing ([`crate::sketch_aggregates`]) under postgresql-hll's function names (its combine
//! function is `hll_union_internal`).
//!
//! The state is an `Hll` allocated, with everything it owns, in the aggregate memory context:
//! a group of five values costs a few dozen bytes, not postgresql-hll's 128 KiB.

use pgrx::pg_sys;
use rollup_core::hll::Hll;

use super::functions::{hll_datum, params_from_args};
use crate::fmgr::{guarded, state_datum, Call};
use crate::memory::PgAllocator;
use crate::sketch_aggregates::{self as agg, AggregateSketch, State};
use crate::{pg_v1_fn, pg_v1_fn_unguarded};

impl AggregateSketch for Hll<PgAllocator> {
    const NAME: &'static str = "hll";
    /// postgresql-hll re-encodes a single sketch under the session's settings: so do we.
    const KEEPS_SINGLE_STORED: bool = false;

    fn pack(&self) -> pg_sys::Datum {
        hll_datum(self)
    }
}

type Sketch = Hll<PgAllocator>;

pg_v1_fn_unguarded! {
    /// hll_add_agg(hashval [, log2m [, regwidth [, expthresh [, sparseon]]]]). Like
    /// postgresql-hll, the state starts on the first row even if its value is NULL, so a
    /// group of NULLs gives an empty sketch and no rows at all give NULL.
    ///
    /// Once per row: adding to dense registers cannot fail, so that case skips the guard.
    /// A non-NULL internal state can only come from the executor, so the aggregate context is
    /// looked up only when the state is created.
    fn pg_rollup_hll_add_trans / pg_finfo_pg_rollup_hll_add_trans (call) {
        // SAFETY: argument 0 is this aggregate's state, referred to only here.
        if let Some(State::Sketch(hll)) = unsafe { agg::state_arg::<Sketch>(call, 0) } {
            if call.is_null(1) || hll.add_hash_if_dense(call.i64(1)) {
                return state_datum(hll);
            }
        }
        guarded(|| add_trans_slow(call))
    }
}

/// First row of a group, or a state not yet dense: may allocate, so behind the guard.
#[inline(never)]
fn add_trans_slow(call: Call) -> pg_sys::Datum {
    // SAFETY: argument 0 is this aggregate's state, referred to only here.
    let state = match unsafe { agg::state_arg::<Sketch>(call, 0) } {
        Some(s) => s,
        None => {
            let ctx = call.agg_context("hll_add_trans");
            let hll = Hll::new_in(params_from_args(call, 2), ctx.allocator());
            // SAFETY: a state just made in the aggregate's context, referred to only here.
            unsafe { &mut *State::new_datum(ctx, hll).cast_mut_ptr::<State<Sketch>>() }
        }
    };
    if !call.is_null(1) {
        state.merged().add_hash(call.i64(1));
    }
    state_datum(state)
}

// SAFETY (each below): the functions are hll_add_agg's and hll_union_agg's support functions,
// whose states are State<Sketch>; the executor passes each state to one function at a time.
pg_v1_fn! {
    fn pg_rollup_hll_union_trans / pg_finfo_pg_rollup_hll_union_trans (call) {
        // SAFETY: see above.
        unsafe { agg::union_trans::<Sketch>(call) }
    }
}
pg_v1_fn! {
    fn pg_rollup_hll_union_internal / pg_finfo_pg_rollup_hll_union_internal (call) {
        // SAFETY: see above.
        unsafe { agg::combine::<Sketch>(call) }
    }
}
pg_v1_fn! {
    fn pg_rollup_hll_serialize / pg_finfo_pg_rollup_hll_serialize (call) {
        // SAFETY: see above.
        unsafe { agg::serialize::<Sketch>(call) }
    }
}
pg_v1_fn! {
    fn pg_rollup_hll_deserialize / pg_finfo_pg_rollup_hll_deserialize (call) { agg::deserialize::<Sketch>(call) }
}
pg_v1_fn! {
    fn pg_rollup_hll_pack / pg_finfo_pg_rollup_hll_pack (call) {
        // SAFETY: see above.
        unsafe { agg::pack::<Sketch>(call) }
    }
}
