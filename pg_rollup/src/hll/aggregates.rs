//! hll_add_agg and hll_union_agg: transition, combine, serial/deserial and final functions.
//!
//! The state is an `Hll` allocated, with everything it owns, in the aggregate memory context:
//! a group of five values costs a few dozen bytes, not postgresql-hll's 128 KiB.

use pgrx::pg_sys;
use rollup_core::hll::codec;
use rollup_core::hll::Hll;

use super::functions::{hll_datum, params_from_args};
use super::view;
use crate::fmgr::*;
use crate::memory::{leak_into, PgAllocator};
use crate::{pg_v1_fn, pg_v1_fn_unguarded};

type State = Hll<PgAllocator>;

fn new_state(ctx: pg_sys::MemoryContext, state: State) -> pg_sys::Datum {
    pg_sys::Datum::from(leak_into(ctx, state))
}

pg_v1_fn_unguarded! {
    /// hll_add_agg(hashval [, log2m [, regwidth [, expthresh [, sparseon]]]]). Like
    /// postgresql-hll, the state starts on the first row even if its value is NULL, so a
    /// group of NULLs gives an empty sketch and no rows at all give NULL.
    ///
    /// Once per row: adding to dense registers cannot fail, so that case skips the guard.
    /// A non-NULL internal state can only come from the executor, so the aggregate context is
    /// looked up only when the state is created.
    fn pg_rollup_hll_add_trans / pg_finfo_pg_rollup_hll_add_trans (fcinfo) {
        if let Some(state) = state_arg::<State>(fcinfo, 0) {
            if arg_is_null(fcinfo, 1) || state.add_hash_if_dense(arg_i64(fcinfo, 1)) {
                return state_datum(state);
            }
        }
        add_trans_slow(fcinfo)
    }
}

/// First row of a group, or a state not yet dense: may allocate, so behind the guard.
#[inline(never)]
unsafe fn add_trans_slow(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe {
        guarded(|| {
            let state = match state_arg::<State>(fcinfo, 0) {
                Some(s) => s,
                None => {
                    let ctx = agg_context(fcinfo, "hll_add_trans");
                    &mut *new_state(
                        ctx,
                        Hll::new_in(params_from_args(fcinfo, 2), PgAllocator(ctx)),
                    )
                    .cast_mut_ptr::<State>()
                }
            };
            if !arg_is_null(fcinfo, 1) {
                state.add_hash(arg_i64(fcinfo, 1));
            }
            state_datum(state)
        })
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_union_trans / pg_finfo_pg_rollup_hll_union_trans (fcinfo) {
        if arg_is_null(fcinfo, 1) {
            return unchanged_state::<State>(fcinfo);
        }
        let v = view(arg_bytes(fcinfo, 1));
        match state_arg::<State>(fcinfo, 0) {
            Some(s) => {
                s.union(&v).or_raise();
                state_datum(s)
            }
            None => {
                let ctx = agg_context(fcinfo, "hll_union_trans");
                new_state(ctx, Hll::from_source_in(&v, PgAllocator(ctx)))
            }
        }
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_union_internal / pg_finfo_pg_rollup_hll_union_internal (fcinfo) {
        let ctx = agg_context(fcinfo, "hll_union_internal");
        match (state_arg::<State>(fcinfo, 0), state_arg::<State>(fcinfo, 1)) {
            (None, None) => return_null(fcinfo),
            (None, Some(b)) => new_state(ctx, Hll::from_source_in(&*b, PgAllocator(ctx))),
            (Some(a), None) => state_datum(a),
            (Some(a), Some(b)) => {
                a.union(&*b).or_raise();
                state_datum(a)
            }
        }
    }
}

pg_v1_fn! {
    /// Partial states travel in the storage format: versioned, big-endian, validated on load.
    fn pg_rollup_hll_serialize / pg_finfo_pg_rollup_hll_serialize (fcinfo) {
        agg_context(fcinfo, "hll_serialize");
        let state = state_arg::<State>(fcinfo, 0).expect("strict");
        let layout = codec::layout(state, -1);
        new_varlena(layout.len, |out| codec::encode_into(state, layout, out))
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_deserialize / pg_finfo_pg_rollup_hll_deserialize (fcinfo) {
        let ctx = agg_context(fcinfo, "hll_deserialize");
        let v = view(arg_bytes(fcinfo, 0));
        new_state(ctx, Hll::from_source_in(&v, PgAllocator(ctx)))
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_pack / pg_finfo_pg_rollup_hll_pack (fcinfo) {
        match state_arg::<State>(fcinfo, 0) {
            Some(state) => hll_datum(state),
            None => return_null(fcinfo),
        }
    }
}
