//! topn_add_agg and topn_union_agg: transition, combine, serial/deserial and final functions.
//!
//! The state is a `TopN` in the aggregate memory context with a working set of three times its
//! counters; the shared plumbing ([`crate::sketch_aggregates`]) does the rest: partial states
//! travel whole (codec::encode_state), and the final function stores the best `counters` items.

use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use rollup_core::topn::{check_counters, TopN};

use super::functions::weight_arg;
use super::io::{default_counters, from_json, jsonb_text};
use super::topn_datum;
use crate::fmgr::{state_datum, Call, OrRaise};
use crate::memory::PgAllocator;
use crate::pg_v1_fn;
use crate::sketch_aggregates::{self as agg, AggregateSketch, State};

impl AggregateSketch for TopN<PgAllocator> {
    const NAME: &'static str = "topn";
    /// A stored sketch is its items in storage order: merged into an empty sketch, it stores
    /// the same bytes.
    const KEEPS_SINGLE_STORED: bool = true;

    fn pack(&self) -> pg_sys::Datum {
        topn_datum(self)
    }
}

type Sketch = TopN<PgAllocator>;

/// The state, created on the first row (like hll_add_agg: a group of NULL items gives an
/// empty sketch, no rows give NULL).
fn state_or_new<'a>(call: Call<'a>, counters_arg: Option<usize>) -> &'a mut State<Sketch> {
    // SAFETY: argument 0 is topn_add_agg's state, referred to only here.
    if let Some(s) = unsafe { agg::state_arg::<Sketch>(call, 0) } {
        return s;
    }
    let counters = match counters_arg {
        Some(i) if !call.is_null(i) => {
            require_constant_counters(call, i);
            i64::from(call.i32(i))
        }
        _ => default_counters(),
    };
    let counters = check_counters(counters).or_raise();
    let ctx = call.agg_context("topn_add_trans");
    let state = State::new_datum(ctx, TopN::new_in(counters, ctx.allocator()));
    // SAFETY: a state just made in the aggregate's context, referred to only here.
    unsafe { &mut *state.cast_mut_ptr::<State<Sketch>>() }
}

/// The number of counters (argument `i` of the transition function) must be the same for every
/// row: a constant or a query parameter. An integer column there is almost always a weight
/// that resolved to the `integer` (counters) form, and would silently size the sketch instead.
fn require_constant_counters(call: Call, i: usize) {
    // SAFETY: the Aggref of the aggregate being run (or NULL), whose argument list and
    // expressions are valid nodes of the plan.
    let constant = unsafe {
        let aggref = pg_sys::AggGetAggref(call.raw());
        if aggref.is_null() {
            return; // a window aggregate: no Aggref to look at
        }
        let args = pgrx::PgList::<pg_sys::TargetEntry>::from_pg((*aggref).args);
        let Some(entry) = args.get_ptr(i - 1) else {
            return;
        };
        let expr = (*entry).expr as *const pg_sys::Node;
        match (*expr).type_ {
            pg_sys::NodeTag::T_Const => true,
            pg_sys::NodeTag::T_Param => {
                (*(expr as *const pg_sys::Param)).paramkind == pg_sys::ParamKind::PARAM_EXTERN
            }
            _ => false,
        }
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

fn add_trans(call: Call, weight_at: Option<usize>, counters_at: Option<usize>) -> pg_sys::Datum {
    let state = state_or_new(call, counters_at);
    let weight_is_null = weight_at.is_some_and(|i| call.is_null(i));
    if !call.is_null(1) && !weight_is_null {
        let weight = weight_at.map_or(1, |i| weight_arg(call, i));
        state.merged().add(call.bytes(1), weight).or_raise();
    }
    state_datum(state)
}

pg_v1_fn! {
    fn pg_rollup_topn_add_trans / pg_finfo_pg_rollup_topn_add_trans (call) { add_trans(call, None, None) }
}
pg_v1_fn! {
    fn pg_rollup_topn_add_trans_counters / pg_finfo_pg_rollup_topn_add_trans_counters (call) { add_trans(call, None, Some(2)) }
}
pg_v1_fn! {
    fn pg_rollup_topn_add_trans_weighted / pg_finfo_pg_rollup_topn_add_trans_weighted (call) { add_trans(call, Some(2), None) }
}
pg_v1_fn! {
    fn pg_rollup_topn_add_trans_weighted_counters / pg_finfo_pg_rollup_topn_add_trans_weighted_counters (call) {
        add_trans(call, Some(2), Some(3))
    }
}

// SAFETY (each below): the functions are topn_add_agg's and topn_union_agg's support functions,
// whose states are State<Sketch>; the executor passes each state to one function at a time.
pg_v1_fn! {
    fn pg_rollup_topn_union_trans / pg_finfo_pg_rollup_topn_union_trans (call) {
        // SAFETY: see above.
        unsafe { agg::union_trans::<Sketch>(call) }
    }
}
pg_v1_fn! {
    /// topn_union_agg(jsonb): postgresql-topn's stored maps, converted as the jsonb cast does.
    fn pg_rollup_topn_union_trans_jsonb / pg_finfo_pg_rollup_topn_union_trans_jsonb (call) {
        if call.is_null(1) {
            return call.unchanged_state();
        }
        let bytes = from_json(&jsonb_text(call, 1), default_counters());
        // SAFETY: see above.
        unsafe { agg::union_bytes::<Sketch>(call, &bytes, false) }
    }
}
pg_v1_fn! {
    fn pg_rollup_topn_combine / pg_finfo_pg_rollup_topn_combine (call) {
        // SAFETY: see above.
        unsafe { agg::combine::<Sketch>(call) }
    }
}
pg_v1_fn! {
    fn pg_rollup_topn_serialize / pg_finfo_pg_rollup_topn_serialize (call) {
        // SAFETY: see above.
        unsafe { agg::serialize::<Sketch>(call) }
    }
}
pg_v1_fn! {
    fn pg_rollup_topn_deserialize / pg_finfo_pg_rollup_topn_deserialize (call) { agg::deserialize::<Sketch>(call) }
}
pg_v1_fn! {
    fn pg_rollup_topn_pack / pg_finfo_pg_rollup_topn_pack (call) {
        // SAFETY: see above.
        unsafe { agg::pack::<Sketch>(call) }
    }
}
