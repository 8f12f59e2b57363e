//! hll_hash_*: MurmurHash3 x64-128 (low 64 bits) over the bytes postgresql-hll hashes, so
//! stored sketches and application-side hashes stay valid across the switch.

use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::murmur3::{hll_hash, hll_hash_datum_bytes};

use crate::fmgr::*;
use crate::{pg_v1_fn, pg_v1_fn_unguarded};

/// The seed argument; a negative one draws postgresql-hll's warning.
unsafe fn checked_seed(fcinfo: pg_sys::FunctionCallInfo) -> i32 {
    let seed = unsafe { arg_i32(fcinfo, 1) };
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
unsafe fn hash_by_value<const LEN: usize>(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe {
        let value = arg_datum(fcinfo, 0).value() as u64;
        let seed = arg_i32(fcinfo, 1);
        if seed >= 0 {
            datum_i64(hll_hash_datum_bytes(value, LEN, seed))
        } else {
            hash_with_negative_seed(fcinfo, &value.to_ne_bytes()[..LEN])
        }
    }
}

#[cold]
#[inline(never)]
unsafe fn hash_with_negative_seed(fcinfo: pg_sys::FunctionCallInfo, bytes: &[u8]) -> pg_sys::Datum {
    unsafe { guarded(|| datum_i64(hll_hash(bytes, checked_seed(fcinfo)))) }
}

pg_v1_fn_unguarded! {
    fn pg_rollup_hll_hash_1byte / pg_finfo_pg_rollup_hll_hash_1byte (fcinfo) { hash_by_value::<1>(fcinfo) }
}
pg_v1_fn_unguarded! {
    fn pg_rollup_hll_hash_2byte / pg_finfo_pg_rollup_hll_hash_2byte (fcinfo) { hash_by_value::<2>(fcinfo) }
}
pg_v1_fn_unguarded! {
    fn pg_rollup_hll_hash_4byte / pg_finfo_pg_rollup_hll_hash_4byte (fcinfo) { hash_by_value::<4>(fcinfo) }
}
pg_v1_fn_unguarded! {
    fn pg_rollup_hll_hash_8byte / pg_finfo_pg_rollup_hll_hash_8byte (fcinfo) { hash_by_value::<8>(fcinfo) }
}
pg_v1_fn! {
    fn pg_rollup_hll_hash_varlena / pg_finfo_pg_rollup_hll_hash_varlena (fcinfo) {
        datum_i64(hll_hash(arg_bytes(fcinfo, 0), checked_seed(fcinfo)))
    }
}

/// The hash of any value: of the bytes [`with_value_bytes`] gives, which are postgresql-hll's
/// (it hashes the pointer of 8-byte by-reference types such as macaddr8 and misreads
/// cstrings, which this does not). May detoast or call the send function: call behind the guard.
unsafe fn hash_value(kind: ValueKind, value: pg_sys::Datum, seed: i32) -> i64 {
    unsafe {
        match kind {
            ValueKind::ByValue(len) => hll_hash_datum_bytes(value.value() as u64, len, seed),
            _ => with_value_bytes(kind, value, |bytes| hll_hash(bytes, seed)),
        }
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_hash_any / pg_finfo_pg_rollup_hll_hash_any (fcinfo) {
        let kind = value_kind_of_arg(fcinfo, 0);
        datum_i64(hash_value(kind, arg_datum(fcinfo, 0), checked_seed(fcinfo)))
    }
}
