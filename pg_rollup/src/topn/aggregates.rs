//! topn_add_agg and topn_union_agg: transition, combine, serial/deserial and final functions.
//!
//! The state is a `TopN` in the aggregate memory context with a working set of three times its
//! counters; partial states travel whole (codec::encode_state), and the final function stores
//! the best `counters` items.

use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use rollup_core::topn::{check_counters, codec, TopN};

use super::functions::weight_arg;
use super::io::{default_counters, from_json, jsonb_text};
use super::{topn_datum, view};
use crate::fmgr::*;
use crate::memory::{leak_into, PgAllocator};
use crate::pg_v1_fn;

type State = TopN<PgAllocator>;

/// The state, created on the first row (like hll_add_agg: a group of NULL items gives an
/// empty sketch, no rows give NULL).
unsafe fn state_or_new<'a>(
    fcinfo: pg_sys::FunctionCallInfo,
    counters_arg: Option<usize>,
) -> &'a mut State {
    unsafe {
        if let Some(s) = state_arg::<State>(fcinfo, 0) {
            return s;
        }
        let counters = match counters_arg {
            Some(i) if !arg_is_null(fcinfo, i) => {
                require_constant_counters(fcinfo, i);
                i64::from(arg_i32(fcinfo, i))
            }
            _ => default_counters(),
        };
        let counters = check_counters(counters).or_raise();
        let ctx = agg_context(fcinfo, "topn_add_trans");
        &mut *leak_into(ctx, TopN::new_in(counters, PgAllocator(ctx)))
    }
}

/// The number of counters (argument `i` of the transition function) must be the same for every
/// row: a constant or a query parameter. An integer column there is almost always a weight
/// that resolved to the `integer` (counters) form, and would silently size the sketch instead.
unsafe fn require_constant_counters(fcinfo: pg_sys::FunctionCallInfo, i: usize) {
    unsafe {
        let aggref = pg_sys::AggGetAggref(fcinfo);
        if aggref.is_null() {
            return; // a window aggregate: no Aggref to look at
        }
        let args = pgrx::PgList::<pg_sys::TargetEntry>::from_pg((*aggref).args);
        let Some(entry) = args.get_ptr(i - 1) else {
            return;
        };
        let expr = (*entry).expr as *const pg_sys::Node;
        let constant = match (*expr).type_ {
            pg_sys::NodeTag::T_Const => true,
            pg_sys::NodeTag::T_Param => {
                (*(expr as *const pg_sys::Param)).paramkind == pg_sys::ParamKind::PARAM_EXTERN
            }
            _ => false,
        };
        if !constant {
            ErrorReport::new(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                "the number of counters of topn_add_agg must be a constant",
                "",
            )
            .set_detail("An integer second argument is the number of counters, not a weight.")
            .set_hint("To weight items by a column, pass it as a bigint: topn_add_agg(item, weight::bigint), or with counters topn_add_agg(item, weight::bigint, 500).")
            .report(PgLogLevel::ERROR);
        }
    }
}

unsafe fn add_trans(
    fcinfo: pg_sys::FunctionCallInfo,
    weight_at: Option<usize>,
    counters_at: Option<usize>,
) -> pg_sys::Datum {
    unsafe {
        let state = state_or_new(fcinfo, counters_at);
        let weight_is_null = weight_at.is_some_and(|i| arg_is_null(fcinfo, i));
        if !arg_is_null(fcinfo, 1) && !weight_is_null {
            let weight = weight_at.map_or(1, |i| weight_arg(fcinfo, i));
            state.add(arg_bytes(fcinfo, 1), weight).or_raise();
        }
        state_datum(state)
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_add_trans / pg_finfo_pg_rollup_topn_add_trans (fcinfo) { add_trans(fcinfo, None, None) }
}
pg_v1_fn! {
    fn pg_rollup_topn_add_trans_counters / pg_finfo_pg_rollup_topn_add_trans_counters (fcinfo) { add_trans(fcinfo, None, Some(2)) }
}
pg_v1_fn! {
    fn pg_rollup_topn_add_trans_weighted / pg_finfo_pg_rollup_topn_add_trans_weighted (fcinfo) { add_trans(fcinfo, Some(2), None) }
}
pg_v1_fn! {
    fn pg_rollup_topn_add_trans_weighted_counters / pg_finfo_pg_rollup_topn_add_trans_weighted_counters (fcinfo) {
        add_trans(fcinfo, Some(2), Some(3))
    }
}

/// Merges a stored sketch (already decoded) into the state, creating it if needed.
unsafe fn union_into(fcinfo: pg_sys::FunctionCallInfo, source: &codec::TopNView) -> pg_sys::Datum {
    unsafe {
        match state_arg::<State>(fcinfo, 0) {
            Some(s) => {
                s.union(source);
                state_datum(s)
            }
            None => {
                let ctx = agg_context(fcinfo, "topn_union_trans");
                pg_sys::Datum::from(leak_into(
                    ctx,
                    TopN::from_source_in(source, PgAllocator(ctx)),
                ))
            }
        }
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_union_trans / pg_finfo_pg_rollup_topn_union_trans (fcinfo) {
        if arg_is_null(fcinfo, 1) {
            return unchanged_state::<State>(fcinfo);
        }
        union_into(fcinfo, &view(arg_bytes(fcinfo, 1)))
    }
}

pg_v1_fn! {
    /// topn_union_agg(jsonb): postgresql-topn's stored maps, converted as the jsonb cast does.
    fn pg_rollup_topn_union_trans_jsonb / pg_finfo_pg_rollup_topn_union_trans_jsonb (fcinfo) {
        if arg_is_null(fcinfo, 1) {
            return unchanged_state::<State>(fcinfo);
        }
        let bytes = from_json(&jsonb_text(arg_datum(fcinfo, 1)), default_counters());
        union_into(fcinfo, &view(&bytes))
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_combine / pg_finfo_pg_rollup_topn_combine (fcinfo) {
        let ctx = agg_context(fcinfo, "topn_combine");
        match (state_arg::<State>(fcinfo, 0), state_arg::<State>(fcinfo, 1)) {
            (None, None) => return_null(fcinfo),
            (None, Some(b)) => pg_sys::Datum::from(leak_into(ctx, TopN::from_source_in(&*b, PgAllocator(ctx)))),
            (Some(a), None) => state_datum(a),
            (Some(a), Some(b)) => {
                a.union(&*b);
                state_datum(a)
            }
        }
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_serialize / pg_finfo_pg_rollup_topn_serialize (fcinfo) {
        agg_context(fcinfo, "topn_serialize");
        bytes_datum(&codec::encode_state(state_arg::<State>(fcinfo, 0).expect("strict")))
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_deserialize / pg_finfo_pg_rollup_topn_deserialize (fcinfo) {
        let ctx = agg_context(fcinfo, "topn_deserialize");
        let v = codec::decode_state(arg_bytes(fcinfo, 0)).or_raise();
        pg_sys::Datum::from(leak_into(ctx, TopN::from_source_in(&v, PgAllocator(ctx))))
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_pack / pg_finfo_pg_rollup_topn_pack (fcinfo) {
        match state_arg::<State>(fcinfo, 0) {
            Some(state) => topn_datum(state),
            None => return_null(fcinfo),
        }
    }
}
