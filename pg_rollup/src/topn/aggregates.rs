//! topn_add_agg and topn_union_agg: transition, combine, serial/deserial and final functions.
//!
//! The state is a `TopN` in the aggregate memory context with a working set of three times its
//! counters; partial states travel whole (codec::encode_state), and the final function stores
//! the best `counters` items.

use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use rollup_core::topn::{check_counters, codec, TopN, TopNSource};

use super::functions::weight_arg;
use super::io::{default_counters, from_json, jsonb_text};
use super::{topn_datum, view};
use crate::fmgr::*;
use crate::memory::{leak_into, PgAllocator};
use crate::pg_v1_fn;

/// The aggregate state: a sketch, and the bytes of a stored sketch that topn_union_agg took in
/// as a group's first value and has not merged yet. A group of one stored sketch (a query view
/// reading its finer rows, a level's bucket made of one finer row) then gives back those bytes
/// as they are: they are what merging them into an empty sketch would store.
struct State {
    sketch: TopN<PgAllocator>,
    first: Option<allocator_api2::vec::Vec<u8, PgAllocator>>,
}

impl State {
    fn new(counters: u32, ctx: pg_sys::MemoryContext) -> Self {
        State {
            sketch: TopN::new_in(counters, PgAllocator(ctx)),
            first: None,
        }
    }

    /// The whole state as a sketch.
    fn merged(&mut self) -> &mut TopN<PgAllocator> {
        if let Some(first) = self.first.take() {
            self.sketch.union(&view(&first));
        }
        &mut self.sketch
    }
}

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
        &mut *leak_into(ctx, State::new(counters, ctx))
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
            state.merged().add(arg_bytes(fcinfo, 1), weight).or_raise();
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

/// Merges a stored sketch into the state, creating it if needed; a new state keeps the bytes
/// of `stored` (a sketch of this database, which decode has checked) unmerged.
unsafe fn union_into(
    fcinfo: pg_sys::FunctionCallInfo,
    bytes: &[u8],
    stored: bool,
) -> pg_sys::Datum {
    unsafe {
        let source = view(bytes);
        match state_arg::<State>(fcinfo, 0) {
            Some(s) => {
                s.merged().union(&source);
                state_datum(s)
            }
            None => {
                let ctx = agg_context(fcinfo, "topn_union_trans");
                let mut state = State::new(source.counters(), ctx);
                if stored {
                    let mut first =
                        allocator_api2::vec::Vec::with_capacity_in(bytes.len(), PgAllocator(ctx));
                    first.extend_from_slice(bytes);
                    state.first = Some(first);
                } else {
                    state.sketch.union(&source);
                }
                pg_sys::Datum::from(leak_into(ctx, state))
            }
        }
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_union_trans / pg_finfo_pg_rollup_topn_union_trans (fcinfo) {
        if arg_is_null(fcinfo, 1) {
            return unchanged_state::<State>(fcinfo);
        }
        union_into(fcinfo, arg_bytes(fcinfo, 1), true)
    }
}

pg_v1_fn! {
    /// topn_union_agg(jsonb): postgresql-topn's stored maps, converted as the jsonb cast does.
    fn pg_rollup_topn_union_trans_jsonb / pg_finfo_pg_rollup_topn_union_trans_jsonb (fcinfo) {
        if arg_is_null(fcinfo, 1) {
            return unchanged_state::<State>(fcinfo);
        }
        let bytes = from_json(&jsonb_text(arg_datum(fcinfo, 1)), default_counters());
        union_into(fcinfo, &bytes, false)
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_combine / pg_finfo_pg_rollup_topn_combine (fcinfo) {
        let ctx = agg_context(fcinfo, "topn_combine");
        match (state_arg::<State>(fcinfo, 0), state_arg::<State>(fcinfo, 1)) {
            (None, None) => return_null(fcinfo),
            (None, Some(b)) => {
                let mut copy = State::new(b.sketch.counters(), ctx);
                copy.sketch.union(b.merged());
                pg_sys::Datum::from(leak_into(ctx, copy))
            }
            (Some(a), None) => state_datum(a),
            (Some(a), Some(b)) => {
                a.merged().union(b.merged());
                state_datum(a)
            }
        }
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_serialize / pg_finfo_pg_rollup_topn_serialize (fcinfo) {
        agg_context(fcinfo, "topn_serialize");
        bytes_datum(&codec::encode_state(state_arg::<State>(fcinfo, 0).expect("strict").merged()))
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_deserialize / pg_finfo_pg_rollup_topn_deserialize (fcinfo) {
        let ctx = agg_context(fcinfo, "topn_deserialize");
        let v = codec::decode_state(arg_bytes(fcinfo, 0)).or_raise();
        let mut state = State::new(v.counters(), ctx);
        state.sketch.union(&v);
        pg_sys::Datum::from(leak_into(ctx, state))
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_pack / pg_finfo_pg_rollup_topn_pack (fcinfo) {
        match state_arg::<State>(fcinfo, 0) {
            Some(State { first: Some(first), .. }) => bytes_datum(first),
            Some(state) => topn_datum(&state.sketch),
            None => return_null(fcinfo),
        }
    }
}
