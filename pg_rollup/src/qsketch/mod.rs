//! `qsketch`: quantiles with a guaranteed relative error, merged exactly in any order.
//!
//! SQL in `sql/qsketch.sql`; the algorithm and the stored form in `rollup_core::qsketch`. Here:
//! text (JSON) and binary input/output, the bytea cast, the scalar functions and the
//! aggregates' own transition (the rest is [`crate::sketch_aggregates`]).

use allocator_api2::alloc::Global;
use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::qsketch::codec::{self, Parts};
use rollup_core::qsketch::{check_accuracy, QSketch, DEFAULT_ACCURACY};
use rollup_core::sketch::Sketch;
use serde::{Deserialize, Serialize};

use crate::fmgr::*;
use crate::memory::PgAllocator;
use crate::pg_v1_fn;
use crate::sketch_aggregates::{self as agg, AggregateSketch, State};

pgrx::extension_sql_file!("../../sql/qsketch.sql", name = "qsketch");

/// A stored sketch argument, decoded and validated (XX001 on bad bytes).
fn sketch(bytes: &[u8]) -> QSketch<Global> {
    QSketch::from_stored_in(&codec::decode(bytes).or_raise(), Global)
}

fn sketch_datum<A: allocator_api2::alloc::Allocator + Clone>(s: &QSketch<A>) -> pg_sys::Datum {
    bytes_datum(&codec::encode(s))
}

/// The text form, a JSON object with the stored fields.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextForm {
    relative_accuracy: f64,
    level: u32,
    count: u64,
    zero: u64,
    min: Option<f64>,
    max: Option<f64>,
    sum: Option<f64>,
    negative: Bins,
    positive: Bins,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bins {
    lowest_key: i32,
    counts: Vec<u64>,
}

fn text_of(p: Parts) -> String {
    let some = |v: f64| (p.count > 0).then_some(v);
    let form = TextForm {
        relative_accuracy: p.alpha,
        level: p.level,
        count: p.count,
        zero: p.zero,
        min: some(p.min),
        max: some(p.max),
        sum: some(p.sum),
        negative: Bins {
            lowest_key: p.neg_offset,
            counts: p.neg,
        },
        positive: Bins {
            lowest_key: p.pos_offset,
            counts: p.pos,
        },
    };
    serde_json::to_string(&form).expect("a sketch serializes")
}

fn invalid_text(detail: impl std::fmt::Display) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        "invalid input syntax for type qsketch",
        detail.to_string()
    );
}

pg_v1_fn! {
    fn pg_rollup_qsketch_in / pg_finfo_pg_rollup_qsketch_in (call) {
        let text = call.cstr(0).to_string_lossy();
        let f: TextForm = serde_json::from_str(&text).unwrap_or_else(|e| invalid_text(e));
        let parts = Parts {
            alpha: f.relative_accuracy,
            level: f.level,
            count: f.count,
            zero: f.zero,
            min: f.min.unwrap_or(0.0),
            max: f.max.unwrap_or(0.0),
            sum: f.sum.unwrap_or(0.0),
            neg_offset: f.negative.lowest_key,
            neg: f.negative.counts,
            pos_offset: f.positive.lowest_key,
            pos: f.positive.counts,
        };
        // Validated as stored bytes are.
        let bytes = codec::encode_parts(&parts);
        codec::decode(&bytes).unwrap_or_else(|e| invalid_text(e));
        bytes_datum(&bytes)
    }
}

pg_v1_fn! {
    fn pg_rollup_qsketch_out / pg_finfo_pg_rollup_qsketch_out (call) {
        datum_cstring(&text_of(codec::decode(call.bytes(0)).or_raise()))
    }
}

/// Bytes from outside (binary input, bytea cast): validated, then stored as they are.
fn validated_datum(bytes: &[u8]) -> pg_sys::Datum {
    codec::decode(bytes).or_raise();
    bytes_datum(bytes)
}

pg_v1_fn! {
    fn pg_rollup_qsketch_recv / pg_finfo_pg_rollup_qsketch_recv (call) {
        validated_datum(call.recv_bytes())
    }
}

pg_v1_fn! {
    fn pg_rollup_qsketch_from_bytea / pg_finfo_pg_rollup_qsketch_from_bytea (call) {
        validated_datum(call.bytes(0))
    }
}

pg_v1_fn! {
    fn pg_rollup_qsketch_union / pg_finfo_pg_rollup_qsketch_union (call) {
        let mut s = sketch(call.bytes(0));
        s.union_stored(&codec::decode(call.bytes(1)).or_raise()).or_raise();
        sketch_datum(&s)
    }
}

/// A float8 result, or NULL.
fn float_or_null(call: Call, v: Option<f64>) -> pg_sys::Datum {
    match v {
        Some(v) => datum_f64(v),
        None => call.return_null(),
    }
}

pg_v1_fn! {
    /// qsketch_percentile(sketch, q): NULL for an empty sketch.
    fn pg_rollup_qsketch_percentile / pg_finfo_pg_rollup_qsketch_percentile (call) {
        let v = sketch(call.bytes(0)).quantile(call.f64(1)).or_raise();
        float_or_null(call, v)
    }
}

pg_v1_fn! {
    /// qsketch_rank(sketch, value): the share of the values at or below it.
    fn pg_rollup_qsketch_rank / pg_finfo_pg_rollup_qsketch_rank (call) {
        let v = sketch(call.bytes(0)).rank(call.f64(1)).or_raise();
        float_or_null(call, v)
    }
}

pg_v1_fn! {
    fn pg_rollup_qsketch_count / pg_finfo_pg_rollup_qsketch_count (call) {
        datum_i64(codec::decode(call.bytes(0)).or_raise().count.min(i64::MAX as u64) as i64)
    }
}

/// A statistic of the stored sketch argument, NULL when it is empty.
fn stat(call: Call, of: impl Fn(&Parts) -> f64) -> pg_sys::Datum {
    let p = codec::decode(call.bytes(0)).or_raise();
    float_or_null(call, (p.count > 0).then(|| of(&p)))
}

pg_v1_fn! {
    fn pg_rollup_qsketch_min / pg_finfo_pg_rollup_qsketch_min (call) { stat(call, |p| p.min) }
}
pg_v1_fn! {
    fn pg_rollup_qsketch_max / pg_finfo_pg_rollup_qsketch_max (call) { stat(call, |p| p.max) }
}
pg_v1_fn! {
    fn pg_rollup_qsketch_sum / pg_finfo_pg_rollup_qsketch_sum (call) { stat(call, |p| p.sum) }
}
pg_v1_fn! {
    fn pg_rollup_qsketch_mean / pg_finfo_pg_rollup_qsketch_mean (call) { stat(call, |p| p.sum / p.count as f64) }
}

pg_v1_fn! {
    /// The relative accuracy every quantile of the sketch has.
    fn pg_rollup_qsketch_relative_accuracy / pg_finfo_pg_rollup_qsketch_relative_accuracy (call) {
        datum_f64(sketch(call.bytes(0)).relative_accuracy())
    }
}

// Aggregates.

impl AggregateSketch for QSketch<PgAllocator> {
    const NAME: &'static str = "qsketch";
    /// A stored sketch merged into an empty one stores the same bytes (the form is canonical).
    const KEEPS_SINGLE_STORED: bool = true;

    fn pack(&self) -> pg_sys::Datum {
        sketch_datum(self)
    }
}

type AggSketch = QSketch<PgAllocator>;

/// qsketch_add_agg(value [, relative_accuracy]): the state is made on the first row (a group
/// of NULLs gives an empty sketch, no rows NULL); the accuracy must be the same for every row.
fn add_trans(call: Call, accuracy_at: Option<usize>) -> pg_sys::Datum {
    // SAFETY: argument 0 is qsketch_add_agg's state, referred to only here.
    let state = match unsafe { agg::state_arg::<AggSketch>(call, 0) } {
        Some(s) => s,
        None => {
            let alpha = match accuracy_at {
                Some(i) if !call.is_null(i) => check_accuracy(call.f64(i)).or_raise(),
                _ => DEFAULT_ACCURACY,
            };
            let ctx = call.agg_context("qsketch_add_trans");
            let datum = State::new_datum(ctx, QSketch::new_in(alpha, ctx.allocator()).or_raise());
            // SAFETY: a state just made in the aggregate's context, referred to only here.
            unsafe { &mut *datum.cast_mut_ptr::<State<AggSketch>>() }
        }
    };
    if !call.is_null(1) {
        state.merged().add(call.f64(1), 1).or_raise();
    }
    state_datum(state)
}

pg_v1_fn! {
    fn pg_rollup_qsketch_add_trans / pg_finfo_pg_rollup_qsketch_add_trans (call) { add_trans(call, None) }
}
pg_v1_fn! {
    fn pg_rollup_qsketch_add_trans_accuracy / pg_finfo_pg_rollup_qsketch_add_trans_accuracy (call) { add_trans(call, Some(2)) }
}

// SAFETY (each below): the functions are qsketch_add_agg's and qsketch_union_agg's support
// functions, whose states are State<AggSketch>; the executor passes each state to one function
// at a time.
pg_v1_fn! {
    fn pg_rollup_qsketch_union_trans / pg_finfo_pg_rollup_qsketch_union_trans (call) {
        // SAFETY: see above.
        unsafe { agg::union_trans::<AggSketch>(call) }
    }
}
pg_v1_fn! {
    fn pg_rollup_qsketch_combine / pg_finfo_pg_rollup_qsketch_combine (call) {
        // SAFETY: see above.
        unsafe { agg::combine::<AggSketch>(call) }
    }
}
pg_v1_fn! {
    fn pg_rollup_qsketch_serialize / pg_finfo_pg_rollup_qsketch_serialize (call) {
        // SAFETY: see above.
        unsafe { agg::serialize::<AggSketch>(call) }
    }
}
pg_v1_fn! {
    fn pg_rollup_qsketch_deserialize / pg_finfo_pg_rollup_qsketch_deserialize (call) { agg::deserialize::<AggSketch>(call) }
}
pg_v1_fn! {
    fn pg_rollup_qsketch_pack / pg_finfo_pg_rollup_qsketch_pack (call) {
        // SAFETY: see above.
        unsafe { agg::pack::<AggSketch>(call) }
    }
}
