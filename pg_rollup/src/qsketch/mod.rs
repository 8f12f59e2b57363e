//! `qsketch`: quantiles with a guaranteed relative error, merged exactly in any order.
//!
//! SQL in `sql/qsketch.sql`; the algorithm and the stored form in `rollup_core::qsketch`. Here:
//! text (JSON) and binary input/output, the bytea cast, the scalar functions and the
//! aggregates, whose state is an expanded qsketch.

use allocator_api2::alloc::Global;
use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::qsketch::codec::{self, Parts};
use rollup_core::qsketch::{check_accuracy, QSketch, DEFAULT_ACCURACY};
use serde::{Deserialize, Serialize};

use crate::fmgr::*;
use crate::memory::{MemCtx, PgAllocator};
use crate::pg_v1_fn;

pgrx::extension_sql_file!("../../sql/qsketch.sql", name = "qsketch");

/// A stored sketch argument, decoded and validated (XX001 on bad bytes).
fn sketch(bytes: &[u8]) -> QSketch<Global> {
    QSketch::from_parts_in(&codec::decode(bytes).or_raise(), Global)
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

/// Bytes from outside (binary input, bytea cast): validated, then stored in the current
/// version (the same bytes unless they were an earlier version's).
fn validated_datum(bytes: &[u8]) -> pg_sys::Datum {
    let parts = codec::decode(bytes).or_raise();
    if bytes.first() == Some(&codec::VERSION) {
        bytes_datum(bytes)
    } else {
        bytes_datum(&codec::encode_parts(&parts))
    }
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
        s.union_parts(&codec::decode(call.bytes(1)).or_raise()).or_raise();
        bytes_datum(&codec::encode(&s))
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

// Aggregates. Their state is a qsketch (not `internal`), held while aggregating as an expanded
// object: a QSketch in a child context of the aggregate's, which the executor keeps between
// rows without copying and flattens into the stored form only when the result is used. A state
// type that is not `internal` and a combine function are what Citus needs to aggregate a
// qsketch on the workers and combine the partial sketches on the coordinator (docs/citus.md);
// parallel plans pass partial states in the stored form.

/// A sketch as an expanded object: the header PostgreSQL knows, then the sketch, both in the
/// object's own context.
#[repr(C)]
struct Expanded {
    header: pg_sys::ExpandedObjectHeader,
    sketch: QSketch<PgAllocator>,
}

/// The object behind an expanded datum that is one of ours.
///
/// # Safety
/// `eoh` is the header of an `Expanded` (its methods are [`METHODS`]).
unsafe fn expanded<'a>(eoh: *mut pg_sys::ExpandedObjectHeader) -> &'a mut Expanded {
    // SAFETY: the caller's promise; the header is the struct's first field.
    unsafe { &mut *eoh.cast::<Expanded>() }
}

/// The flat size: a varlena header and the stored bytes.
unsafe extern "C-unwind" fn flat_size(eoh: *mut pg_sys::ExpandedObjectHeader) -> pg_sys::Size {
    // SAFETY: PostgreSQL calls the methods of an object with its own header.
    let e = unsafe { expanded(eoh) };
    pg_sys::VARHDRSZ + codec::encode(&e.sketch).len()
}

/// Writes the stored form into `result`, `size` bytes that flat_size asked for.
unsafe extern "C-unwind" fn flatten_into(
    eoh: *mut pg_sys::ExpandedObjectHeader,
    result: *mut std::ffi::c_void,
    size: pg_sys::Size,
) {
    // SAFETY: as above; `result` has `size` writable bytes, the size flat_size gave.
    unsafe {
        let bytes = codec::encode(&expanded(eoh).sketch);
        debug_assert_eq!(size, pg_sys::VARHDRSZ + bytes.len());
        pgrx::set_varsize_4b(result.cast(), size as i32);
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            result.cast::<u8>().add(pg_sys::VARHDRSZ),
            bytes.len(),
        );
    }
}

static METHODS: pg_sys::ExpandedObjectMethods = pg_sys::ExpandedObjectMethods {
    get_flat_size: Some(flat_size),
    flatten_into: Some(flatten_into),
};

/// Our expanded object behind argument `n`, if it is one (read-write or read-only).
fn expanded_arg<'a>(call: Call<'a>, n: usize) -> Option<(&'a mut Expanded, bool)> {
    let p: *const u8 = call.datum(n).cast_mut_ptr();
    // SAFETY: argument n is a non-NULL qsketch: a varlena, whose first byte says whether it is
    // a pointer to an expanded object (1, then its tag, then the object's address).
    unsafe {
        if *p != 1 {
            return None;
        }
        let tag = u32::from(*p.add(1));
        let rw = tag == pg_sys::vartag_external::VARTAG_EXPANDED_RW;
        if !rw && tag != pg_sys::vartag_external::VARTAG_EXPANDED_RO {
            return None;
        }
        // (what DatumGetEOHP reads: the object's address after the two header bytes, unaligned;
        // read here, as this runs for every row)
        let eoh = p
            .add(2)
            .cast::<*mut pg_sys::ExpandedObjectHeader>()
            .read_unaligned();
        if !std::ptr::eq((*eoh).eoh_methods, &METHODS) {
            return None;
        }
        Some((expanded(eoh), rw))
    }
}

/// The name of the context the states of an aggregate context live in (compared by address).
const STATES: &std::ffi::CStr = c"qsketch states";

/// The context for new states under aggregate context `agg`: one child shared by its states,
/// not one per state (hash aggregation measures its memory by walking every child context at
/// each new group: a context per group made GROUP BY quadratic, 65 s for 100k groups). Found
/// among the first children (new ones come first), else made.
///
/// A state is never deleted alone: the executor deletes a read-write expanded state only when
/// the transition returns another one, and ours return the state they are given.
fn states_context(agg: MemCtx) -> MemCtx {
    // SAFETY: `agg` is the live aggregate context; its children list is PostgreSQL's, read
    // only; a new child lives until `agg` is reset or deleted, as long as the states in it.
    unsafe {
        let mut child = (*agg.raw()).firstchild;
        for _ in 0..16 {
            if child.is_null() {
                break;
            }
            if std::ptr::eq((*child).name, STATES.as_ptr()) {
                return MemCtx::new(child);
            }
            child = (*child).nextchild;
        }
        MemCtx::new(pg_sys::AllocSetContextCreateExtended(
            agg.raw(),
            STATES.as_ptr(),
            pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
        ))
    }
}

/// A new state, the sketch `make` returns with the allocator it is given, as a read-write
/// expanded datum in the states' context under the aggregate's.
fn new_state<'a>(
    call: Call<'a>,
    make: impl FnOnce(PgAllocator) -> QSketch<PgAllocator>,
) -> (&'a mut QSketch<PgAllocator>, pg_sys::Datum) {
    let mem = states_context(call.agg_context("qsketch aggregate"));
    let sketch = make(mem.allocator());
    // SAFETY: the object lives in the states' context, which outlives it; EOH_init_header
    // fills the zeroed header.
    unsafe {
        let e = mem.leak(Expanded {
            header: std::mem::zeroed(),
            sketch,
        });
        pg_sys::EOH_init_header(&mut (*e).header, &METHODS, mem.raw());
        let datum = pg_sys::Datum::from((*e).header.eoh_rw_ptr.as_ptr());
        (&mut (*e).sketch, datum)
    }
}

/// The sketch of state argument 0 to change, and the datum to return: the state itself when it
/// is our read-write object, else a new one (the first row, or a state in the stored form, as
/// a parallel worker or Citus hands it over). `alpha` for a first row.
fn state<'a>(
    call: Call<'a>,
    alpha: impl FnOnce() -> f64,
) -> (&'a mut QSketch<PgAllocator>, pg_sys::Datum) {
    if call.is_null(0) {
        return new_state(call, |a| QSketch::new_in(alpha(), a).or_raise());
    }
    let parts = match expanded_arg(call, 0) {
        Some((e, true)) => return (&mut e.sketch, call.datum(0)),
        Some((e, false)) => Parts::of(&e.sketch),
        None => codec::decode(call.bytes(0)).or_raise(),
    };
    new_state(call, |a| QSketch::from_parts_in(&parts, a))
}

/// qsketch_add_agg(value [, relative_accuracy]): the state is made on the first row (a group
/// of NULLs gives an empty sketch, no rows NULL); the accuracy must be the same for every row.
fn add_trans(call: Call, accuracy_at: Option<usize>) -> pg_sys::Datum {
    let (sketch, datum) = state(call, || match accuracy_at {
        Some(i) if !call.is_null(i) => check_accuracy(call.f64(i)).or_raise(),
        _ => DEFAULT_ACCURACY,
    });
    if !call.is_null(1) {
        sketch.add(call.f64(1), 1).or_raise();
    }
    datum
}

pg_v1_fn! {
    fn pg_rollup_qsketch_add_trans / pg_finfo_pg_rollup_qsketch_add_trans (call) { add_trans(call, None) }
}
pg_v1_fn! {
    fn pg_rollup_qsketch_add_trans_accuracy / pg_finfo_pg_rollup_qsketch_add_trans_accuracy (call) { add_trans(call, Some(2)) }
}

pg_v1_fn! {
    /// qsketch_union_agg's transition and the combine function of both aggregates: merges
    /// sketch argument 1 (stored, or another state) into the state.
    fn pg_rollup_qsketch_union_trans / pg_finfo_pg_rollup_qsketch_union_trans (call) {
        if call.is_null(1) {
            return if call.is_null(0) { call.return_null() } else { call.datum(0) };
        }
        let other = match expanded_arg(call, 1) {
            Some((e, _)) => Parts::of(&e.sketch),
            None => codec::decode(call.bytes(1)).or_raise(),
        };
        let (sketch, datum) = state(call, || other.alpha);
        sketch.union_parts(&other).or_raise();
        datum
    }
}
