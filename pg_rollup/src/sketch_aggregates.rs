//! The aggregate plumbing of the sketch types with an `internal` state (hll, topn), written
//! once against [`rollup_core::sketch::Sketch`]: the transition that merges stored sketches
//! (`*_union_agg`), combine, serialize, deserialize and the final function. A sketch type's own
//! file adds its transition from raw values (`*_add_agg`) and one `pg_v1_fn!` line per function
//! below, under the C symbols its SQL declares. (qsketch's state is an expanded qsketch instead,
//! which Citus can combine: `src/qsketch`.)

use allocator_api2::vec::Vec;
use pgrx::pg_sys;
use rollup_core::sketch::Sketch;

use crate::fmgr::{bytes_datum, state_datum, Call, OrRaise};
use crate::memory::{MemCtx, PgAllocator};

pub trait AggregateSketch: Sketch<PgAllocator> + 'static {
    /// The type's name in messages ("hll", "topn").
    const NAME: &'static str;

    /// Whether a group of one stored sketch gives back its bytes as they are: true when they
    /// are what merging them into an empty sketch would store (a query view reading its finer
    /// rows, a level's bucket made of one finer row then cost a copy, not a merge).
    const KEEPS_SINGLE_STORED: bool;

    /// The final function's result: the sketch in its stored form.
    fn pack(&self) -> pg_sys::Datum;
}

/// An aggregate's state, in the aggregate memory context.
pub enum State<S> {
    /// The bytes of the one stored sketch the group has taken in (KEEPS_SINGLE_STORED).
    Stored(Vec<u8, PgAllocator>),
    Sketch(S),
}

impl<S: AggregateSketch> State<S> {
    /// A new state in `ctx`, as the `internal` datum the executor passes around.
    pub fn new_datum(ctx: MemCtx, sketch: S) -> pg_sys::Datum {
        pg_sys::Datum::from(ctx.leak(State::Sketch(sketch)))
    }

    /// The whole state as a sketch.
    pub fn merged(&mut self) -> &mut S {
        if let State::Stored(bytes) = self {
            let sketch = S::from_stored_in(&S::decode(bytes).or_raise(), *bytes.allocator());
            *self = State::Sketch(sketch);
        }
        match self {
            State::Sketch(s) => s,
            State::Stored(_) => unreachable!("merged above"),
        }
    }
}

/// State argument `n` of one of `S`'s aggregate support functions.
///
/// # Safety
/// The function is a support function of an aggregate whose state is a `State<S>`, and the
/// result is the only reference to that argument while it is used.
pub unsafe fn state_arg<'a, S>(call: Call<'a>, n: usize) -> Option<&'a mut State<S>> {
    // SAFETY: the caller's promise.
    unsafe { call.state::<State<S>>(n) }
}

fn agg_context<S: AggregateSketch>(call: Call) -> MemCtx {
    call.agg_context(&format!("{} aggregate support function", S::NAME))
}

/// Merges stored sketch `bytes` into the state (argument 0), creating it if needed; with
/// `keep`, a new state keeps the bytes (of a sketch of this database) unmerged.
///
/// # Safety
/// As [`state_arg`] for argument 0.
pub unsafe fn union_bytes<S: AggregateSketch>(
    call: Call,
    bytes: &[u8],
    keep: bool,
) -> pg_sys::Datum {
    let stored = S::decode(bytes).or_raise();
    // SAFETY: the caller's promise.
    match unsafe { state_arg::<S>(call, 0) } {
        Some(s) => {
            s.merged().union_stored(&stored).or_raise();
            state_datum(s)
        }
        None => {
            let ctx = agg_context::<S>(call);
            if keep {
                let mut copy = Vec::with_capacity_in(bytes.len(), ctx.allocator());
                copy.extend_from_slice(bytes);
                pg_sys::Datum::from(ctx.leak(State::<S>::Stored(copy)))
            } else {
                State::new_datum(ctx, S::from_stored_in(&stored, ctx.allocator()))
            }
        }
    }
}

/// `*_union_trans(state, stored)`: the transition of `*_union_agg`.
///
/// # Safety
/// As [`state_arg`] for argument 0.
pub unsafe fn union_trans<S: AggregateSketch>(call: Call) -> pg_sys::Datum {
    if call.is_null(1) {
        return call.unchanged_state();
    }
    // SAFETY: the caller's promise.
    unsafe { union_bytes::<S>(call, call.bytes(1), S::KEEPS_SINGLE_STORED) }
}

/// The combine function: merges state 1 into state 0.
///
/// # Safety
/// As [`state_arg`] for arguments 0 and 1 (two different states).
pub unsafe fn combine<S: AggregateSketch>(call: Call) -> pg_sys::Datum {
    let ctx = agg_context::<S>(call);
    // SAFETY: the caller's promise.
    let (a, b) = unsafe { (state_arg::<S>(call, 0), state_arg::<S>(call, 1)) };
    match (a, b) {
        (None, None) => call.return_null(),
        (None, Some(b)) => State::new_datum(ctx, b.merged().clone_in(ctx.allocator())),
        (Some(a), None) => state_datum(a),
        (Some(a), Some(b)) => {
            a.merged().union_sketch(b.merged()).or_raise();
            state_datum(a)
        }
    }
}

/// The serial function: partial states travel as [`Sketch::to_partial`] bytes.
///
/// # Safety
/// As [`state_arg`] for argument 0.
pub unsafe fn serialize<S: AggregateSketch>(call: Call) -> pg_sys::Datum {
    agg_context::<S>(call);
    // SAFETY: the caller's promise.
    let state = unsafe { state_arg::<S>(call, 0) }.expect("strict");
    bytes_datum(&state.merged().to_partial())
}

/// The deserial function.
pub fn deserialize<S: AggregateSketch>(call: Call) -> pg_sys::Datum {
    let ctx = agg_context::<S>(call);
    State::new_datum(
        ctx,
        S::from_partial_in(call.bytes(0), ctx.allocator()).or_raise(),
    )
}

/// The final function: the stored form (no rows: NULL).
///
/// # Safety
/// As [`state_arg`] for argument 0.
pub unsafe fn pack<S: AggregateSketch>(call: Call) -> pg_sys::Datum {
    // SAFETY: the caller's promise.
    match unsafe { state_arg::<S>(call, 0) } {
        Some(State::Stored(bytes)) => bytes_datum(bytes),
        Some(State::Sketch(sketch)) => sketch.pack(),
        None => call.return_null(),
    }
}
