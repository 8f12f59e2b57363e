//! topn_add, topn_union, metadata, and the top-n reader behind topn(), topn_bounds(), ...

use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::topn::{top, Entry, TopN, TopNSource};

use super::{topn_datum, view};
use crate::fmgr::*;
use crate::pg_v1_fn;

/// A weight argument: a non-negative bigint.
pub(super) fn weight_arg(call: Call, n: usize) -> u64 {
    let w = call.i64(n);
    if w < 0 {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("topn weight must not be negative, not {w}")
        );
    }
    w as u64
}

pg_v1_fn! {
    /// topn_add(sketch, item [, weight])
    fn pg_rollup_topn_add / pg_finfo_pg_rollup_topn_add (call) {
        let weight = if call.nargs() > 2 { weight_arg(call, 2) } else { 1 };
        let mut t = TopN::from_source_in(&view(call.bytes(0)), allocator_api2::alloc::Global);
        t.add(call.bytes(1), weight).or_raise();
        topn_datum(&t)
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_union / pg_finfo_pg_rollup_topn_union (call) {
        let mut t = TopN::from_source_in(&view(call.bytes(0)), allocator_api2::alloc::Global);
        t.union(&view(call.bytes(1)));
        topn_datum(&t)
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_total / pg_finfo_pg_rollup_topn_total (call) {
        datum_i64(view(call.bytes(0)).total().min(i64::MAX as u64) as i64)
    }
}

pg_v1_fn! {
    /// The bound on the count of every item the sketch does not list (and on every listed
    /// item's upper minus lower bound).
    fn pg_rollup_topn_error_bound / pg_finfo_pg_rollup_topn_error_bound (call) {
        datum_i64(view(call.bytes(0)).absent().min(i64::MAX as u64) as i64)
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_counters / pg_finfo_pg_rollup_topn_counters (call) {
        datum_i32(view(call.bytes(0)).counters() as i32)
    }
}

fn clamp(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// The first n (argument 1) items of the sketch (argument 0) in rank order (rank_order: weight
/// seen first), and whether each is certainly among the n most frequent.
fn ranked_args<'a>(call: Call<'a>) -> (Vec<Entry<'a>>, Vec<bool>) {
    let n = call.i32(1);
    if n < 0 {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("number of items must not be negative, not {n}")
        );
    }
    let v = view(call.bytes(0));
    top(v.entries(), v.absent(), n as usize)
}

pg_v1_fn! {
    /// topn_columns(sketch, n): the first n items as parallel arrays (items, lower bounds, upper
    /// bounds, guaranteed), read by topn_items() and topn_jsonb().
    fn pg_rollup_topn_columns / pg_finfo_pg_rollup_topn_columns (call) {
        let (shown, guaranteed) = ranked_args(call);
        let items: Vec<String> = shown.iter().map(|e| String::from_utf8_lossy(e.item).into_owned()).collect();
        let lowers: Vec<i64> = shown.iter().map(|e| clamp(e.lower)).collect();
        let uppers: Vec<i64> = shown.iter().map(|e| clamp(e.upper)).collect();
        call.return_record(&[
            items.into_datum().unwrap(),
            lowers.into_datum().unwrap(),
            uppers.into_datum().unwrap(),
            guaranteed.into_datum().unwrap(),
        ])
    }
}

pg_v1_fn! {
    /// topn(sketch, n): rows (item, frequency), the frequency being the lower bound;
    /// topn_bounds(sketch, n) adds (lower_bound, upper_bound, guaranteed).
    fn pg_rollup_topn_rows / pg_finfo_pg_rollup_topn_rows (call) {
        let (shown, guaranteed) = ranked_args(call);
        call.return_rows(shown.len(), |i, values, _| {
            let e = &shown[i];
            values[0] = text_datum(e.item);
            values[1] = datum_i64(clamp(e.lower));
            if values.len() > 2 {
                values[2] = values[1];
                values[3] = datum_i64(clamp(e.upper));
                values[4] = pg_sys::Datum::from(guaranteed[i]);
            }
        })
    }
}
