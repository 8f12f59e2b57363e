//! Search sessions: instant-search keystrokes collapsed into searches (`sql/searches.sql`).
//! Here: the rule of which query continues which, and the aggregate that collapses one user's
//! requests into searches ([`rollup_core::searches`]).

use allocator_api2::vec::Vec;
use pgrx::pg_sys;
use rollup_core::searches::{continues, walk, Request, Search};

use crate::fmgr::*;
use crate::memory::PgAllocator;
use crate::pg_v1_fn;

pgrx::extension_sql_file!(
    "../sql/searches.sql",
    name = "searches",
    requires = ["rollups"]
);

pg_v1_fn! {
    fn pg_rollup_search_continues / pg_finfo_pg_rollup_search_continues (call) {
        pg_sys::Datum::from(continues(call.bytes(0), call.bytes(1)))
    }
}

/// The requests of one user (a group of the aggregate), in the aggregate's context.
struct Requests {
    gap: i64,
    /// Rows given so far (requests without a time are counted, not kept); of them, new requests
    /// (not open searches carried over), and the newest one's time.
    rows: i64,
    new_rows: i64,
    newest: i64,
    requests: Vec<Request, PgAllocator>,
    text: Vec<u8, PgAllocator>,
}

/// Microseconds of an interval argument (a day is 24 hours, a month 30 days, as interval
/// comparison counts them).
fn interval_micros(call: Call, n: usize) -> i64 {
    // SAFETY: argument n is a non-NULL interval (the declaration; the caller checks NULL).
    let i = unsafe { &*call.datum(n).cast_mut_ptr::<pg_sys::Interval>() };
    i.time
        .saturating_add(i64::from(i.day) * 86_400_000_000)
        .saturating_add(i64::from(i.month) * 30 * 86_400_000_000)
}

pg_v1_fn! {
    /// rollup_internal.searches' transition: (state, query, time, id, keystrokes, first time,
    /// gap); keystrokes are 1 for a new request, minus the count for an open search carried
    /// over; a request without a time is part of no search.
    fn pg_rollup_search_trans / pg_finfo_pg_rollup_search_trans (call) {
        // SAFETY: argument 0 is this aggregate's state, made below in its context.
        let state = match unsafe { call.state::<Requests>(0) } {
            Some(s) => s,
            None => {
                let ctx = call.agg_context("rollup_internal.search_trans");
                let alloc = ctx.allocator();
                // SAFETY: the context outlives the state, which it frees.
                unsafe {
                    &mut *ctx.leak(Requests {
                        gap: if call.is_null(6) { 0 } else { interval_micros(call, 6) },
                        rows: 0,
                        new_rows: 0,
                        newest: i64::MIN,
                        // (Room for the few dozen requests a user sends in a batch
                        // without the copies of growing from nothing.)
                        requests: Vec::with_capacity_in(32, alloc),
                        text: Vec::with_capacity_in(256, alloc),
                    })
                }
            }
        };
        state.rows += 1;
        let position = state.rows;
        let keystrokes = if call.is_null(4) { 1 } else { i64::from(call.i32(4)) };
        state.new_rows += i64::from(keystrokes > 0);
        if call.is_null(2) {
            return state_datum(state);
        }
        let query = if call.is_null(1) { &[][..] } else { call.bytes(1) };
        let start = state.text.len() as u32;
        state.text.extend_from_slice(query);
        let at = call.i64(2);
        if keystrokes > 0 {
            state.newest = state.newest.max(at);
        }
        state.requests.push(Request {
            at,
            id: call.i64(3),
            first: if call.is_null(5) { at } else { call.i64(5) },
            keystrokes: keystrokes.abs(),
            position,
            query: (start, query.len() as u32),
        });
        state_datum(state)
    }
}

pg_v1_fn! {
    /// rollup_internal.searches' final function: a rollup_internal.search_result, an array per
    /// column of the searches (final query, first and last times, keystrokes, last request's id
    /// and position, whether another search of the user followed), the new requests and the
    /// newest one's time (-infinity when none).
    fn pg_rollup_search_final / pg_finfo_pg_rollup_search_final (call) {
        // SAFETY: argument 0 is this aggregate's state (or NULL: no rows).
        let Some(state) = (unsafe { call.state::<Requests>(0) }) else {
            return call.return_null();
        };
        let searches = walk(&mut state.requests, &state.text, state.gap);
        let column = |f: fn(&Search) -> i64, oid| array(searches.iter().map(|s| pg_sys::Datum::from(f(s))).collect(), oid);
        let queries = searches
            .iter()
            .map(|s| {
                let q = &state.text[s.query.0 as usize..(s.query.0 + s.query.1) as usize];
                new_varlena(q.len(), |out| out.copy_from_slice(q))
            })
            .collect();
        call.return_record(&[
            array(queries, pg_sys::TEXTOID),
            // (A timestamptz is microseconds since 2000-01-01; the smallest is -infinity.)
            column(|s| s.first, pg_sys::TIMESTAMPTZOID),
            column(|s| s.last, pg_sys::TIMESTAMPTZOID),
            column(|s| s.keystrokes, pg_sys::INT8OID),
            column(|s| s.last_id, pg_sys::INT8OID),
            column(|s| s.last_position, pg_sys::INT8OID),
            column(|s| i64::from(s.finished), pg_sys::BOOLOID),
            datum_i64(state.new_rows),
            datum_i64(state.newest),
        ])
    }
}

/// A one-dimensional array of `elements` of type `oid`: text, boolean or an 8-byte
/// pass-by-value type.
fn array(mut elements: std::vec::Vec<pg_sys::Datum>, oid: pg_sys::Oid) -> pg_sys::Datum {
    let (len, byval, align) = match oid {
        pg_sys::TEXTOID => (-1, false, pg_sys::TYPALIGN_INT),
        pg_sys::BOOLOID => (1, true, pg_sys::TYPALIGN_CHAR),
        _ => (8, true, pg_sys::TYPALIGN_DOUBLE),
    };
    // SAFETY: `elements` holds that many datums of the type, whose length, passing and
    // alignment are those given.
    pg_sys::Datum::from(unsafe {
        pg_sys::construct_array(
            elements.as_mut_ptr(),
            elements.len() as i32,
            oid,
            len,
            byval,
            align as std::ffi::c_char,
        )
    })
}
