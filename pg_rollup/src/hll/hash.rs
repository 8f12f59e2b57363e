//! hll_hash_*: MurmurHash3 x64-128 (low 64 bits) over the bytes postgresql-hll hashes, so
//! stored sketches and application-side hashes stay valid across the switch.

use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::murmur3::{hll_hash, hll_hash_datum_bytes};

use crate::fmgr::*;
use crate::{pg_v1_fn, pg_v1_fn_unguarded};

/// The seed argument; a negative one draws postgresql-hll's warning.
fn checked_seed(call: Call) -> i32 {
    let seed = call.i32(1);
    if seed < 0 {
        ereport!(
            PgLogLevel::WARNING,
            PgSqlErrorCode::ERRCODE_WARNING,
            "negative seed values not compatible"
        );
    }
    seed
}

/// Hashes the first `LEN` bytes of a pass-by-value datum (native byte order, as C does).
/// These run once per row, so the usual case (seed >= 0: nothing can fail) skips the guard.
#[inline(always)]
fn hash_by_value<const LEN: usize>(call: Call) -> pg_sys::Datum {
    let value = call.datum(0).value() as u64;
    let seed = call.i32(1);
    if seed >= 0 {
        datum_i64(hll_hash_datum_bytes(value, LEN, seed))
    } else {
        hash_with_negative_seed(call, &value.to_ne_bytes()[..LEN])
    }
}

#[cold]
#[inline(never)]
fn hash_with_negative_seed(call: Call, bytes: &[u8]) -> pg_sys::Datum {
    guarded(|| datum_i64(hll_hash(bytes, checked_seed(call))))
}

pg_v1_fn_unguarded! {
    fn pg_rollup_hll_hash_1byte / pg_finfo_pg_rollup_hll_hash_1byte (call) { hash_by_value::<1>(call) }
}
pg_v1_fn_unguarded! {
    fn pg_rollup_hll_hash_2byte / pg_finfo_pg_rollup_hll_hash_2byte (call) { hash_by_value::<2>(call) }
}
pg_v1_fn_unguarded! {
    fn pg_rollup_hll_hash_4byte / pg_finfo_pg_rollup_hll_hash_4byte (call) { hash_by_value::<4>(call) }
}
pg_v1_fn_unguarded! {
    fn pg_rollup_hll_hash_8byte / pg_finfo_pg_rollup_hll_hash_8byte (call) { hash_by_value::<8>(call) }
}
pg_v1_fn! {
    fn pg_rollup_hll_hash_varlena / pg_finfo_pg_rollup_hll_hash_varlena (call) {
        datum_i64(hll_hash(call.bytes(0), checked_seed(call)))
    }
}

pg_v1_fn! {
    /// The hash of any value: of the bytes [`with_value_bytes`] gives, which are
    /// postgresql-hll's (it hashes the pointer of 8-byte by-reference types such as macaddr8
    /// and misreads cstrings, which this does not).
    fn pg_rollup_hll_hash_any / pg_finfo_pg_rollup_hll_hash_any (call) {
        let (kind, value, seed) = (call.value_kind_of_arg(0), call.datum(0), checked_seed(call));
        datum_i64(match kind {
            ValueKind::ByValue(len) => hll_hash_datum_bytes(value.value() as u64, len, seed),
            // SAFETY: argument 0 is a non-NULL value (strict) of the type `kind` was found for.
            _ => unsafe { with_value_bytes(kind, value, |bytes| hll_hash(bytes, seed)) },
        })
    }
}
