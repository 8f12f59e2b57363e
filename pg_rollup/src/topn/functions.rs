//! topn_add, topn_union, metadata, and the top-n reader behind topn(), topn_bounds(), ...

use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::topn::{top, Entry, TopN, TopNSource};

use super::{topn_datum, view};
use crate::fmgr::*;
use crate::pg_v1_fn;

/// A weight argument: a non-negative bigint.
pub(super) unsafe fn weight_arg(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> u64 {
    let w = unsafe { arg_i64(fcinfo, n) };
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
    fn pg_rollup_topn_add / pg_finfo_pg_rollup_topn_add (fcinfo) {
        let weight = if (*fcinfo).nargs > 2 { weight_arg(fcinfo, 2) } else { 1 };
        let mut t = TopN::from_source_in(&view(arg_bytes(fcinfo, 0)), allocator_api2::alloc::Global);
        t.add(arg_bytes(fcinfo, 1), weight).or_raise();
        topn_datum(&t)
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_union / pg_finfo_pg_rollup_topn_union (fcinfo) {
        let mut t = TopN::from_source_in(&view(arg_bytes(fcinfo, 0)), allocator_api2::alloc::Global);
        t.union(&view(arg_bytes(fcinfo, 1)));
        topn_datum(&t)
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_total / pg_finfo_pg_rollup_topn_total (fcinfo) {
        datum_i64(view(arg_bytes(fcinfo, 0)).total().min(i64::MAX as u64) as i64)
    }
}

pg_v1_fn! {
    /// The bound on the count of every item the sketch does not list (and on every listed
    /// item's upper minus lower bound).
    fn pg_rollup_topn_error_bound / pg_finfo_pg_rollup_topn_error_bound (fcinfo) {
        datum_i64(view(arg_bytes(fcinfo, 0)).absent().min(i64::MAX as u64) as i64)
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_counters / pg_finfo_pg_rollup_topn_counters (fcinfo) {
        datum_i32(view(arg_bytes(fcinfo, 0)).counters() as i32)
    }
}

fn clamp(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// The first n (argument 1) items of the sketch (argument 0) in rank order (rank_order: weight
/// seen first), and whether each is certainly among the n most frequent.
unsafe fn ranked_args<'a>(fcinfo: pg_sys::FunctionCallInfo) -> (Vec<Entry<'a>>, Vec<bool>) {
    unsafe {
        let n = arg_i32(fcinfo, 1);
        if n < 0 {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("number of items must not be negative, not {n}")
            );
        }
        let v = view(arg_bytes(fcinfo, 0));
        top(v.entries(), v.absent(), n as usize)
    }
}

pg_v1_fn! {
    /// topn_columns(sketch, n): the first n items as parallel arrays (items, lower bounds, upper
    /// bounds, guaranteed), read by topn_items() and topn_jsonb().
    fn pg_rollup_topn_columns / pg_finfo_pg_rollup_topn_columns (fcinfo) {
        let (shown, guaranteed) = ranked_args(fcinfo);
        let items: Vec<String> = shown.iter().map(|e| String::from_utf8_lossy(e.item).into_owned()).collect();
        let lowers: Vec<i64> = shown.iter().map(|e| clamp(e.lower)).collect();
        let uppers: Vec<i64> = shown.iter().map(|e| clamp(e.upper)).collect();
        return_record(fcinfo, &[
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
    fn pg_rollup_topn_rows / pg_finfo_pg_rollup_topn_rows (fcinfo) {
        let (shown, guaranteed) = ranked_args(fcinfo);
        return_rows(fcinfo, shown.len(), |i, values, _| {
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
