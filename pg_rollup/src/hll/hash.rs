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
        ereport!(PgLogLevel::WARNING, PgSqlErrorCode::ERRCODE_WARNING, "negative seed values not compatible");
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

/// Which bytes of a value of some type are hashed: pass-by-value types their bytes, varlenas
/// their detoasted content, C strings their characters, other fixed-size types their binary
/// send form (postgresql-hll's rule; it hashes the pointer of 8-byte by-reference types such
/// as macaddr8 and misreads cstrings, which this does not).
#[derive(Clone, Copy)]
enum HashKind {
    ByValue(usize),
    Varlena,
    CString,
    Send(pg_sys::Oid),
}

/// The hashing rule for argument `n`'s type (catalog lookups: call behind the guard).
unsafe fn hash_kind_of_arg(fcinfo: pg_sys::FunctionCallInfo, n: i32) -> HashKind {
    unsafe {
        let type_oid = pg_sys::get_fn_expr_argtype((*fcinfo).flinfo, n);
        if type_oid == pg_sys::InvalidOid {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_INDETERMINATE_DATATYPE, "could not determine the type of the value to hash");
        }
        let mut len: i16 = 0;
        let mut by_value = false;
        pg_sys::get_typlenbyval(type_oid, &mut len, &mut by_value);
        match (len, by_value) {
            (1 | 2 | 4 | 8, true) => HashKind::ByValue(len as usize),
            (-1, _) => HashKind::Varlena,
            (-2, _) => HashKind::CString,
            _ => {
                let mut send_fn = pg_sys::InvalidOid;
                let mut is_varlena = false;
                pg_sys::getTypeBinaryOutputInfo(type_oid, &mut send_fn, &mut is_varlena);
                HashKind::Send(send_fn)
            }
        }
    }
}

/// The hash of any value (may detoast or call the send function: call behind the guard).
unsafe fn hash_value(kind: HashKind, value: pg_sys::Datum, seed: i32) -> i64 {
    unsafe {
        match kind {
            HashKind::ByValue(len) => hll_hash_datum_bytes(value.value() as u64, len, seed),
            HashKind::Varlena => hll_hash(varlena_bytes(value), seed),
            HashKind::CString => hll_hash(std::ffi::CStr::from_ptr(value.cast_mut_ptr()).to_bytes(), seed),
            HashKind::Send(send_fn) => {
                let sent = pg_sys::OidSendFunctionCall(send_fn, value);
                hll_hash(varlena_bytes(pg_sys::Datum::from(sent)), seed)
            }
        }
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_hash_any / pg_finfo_pg_rollup_hll_hash_any (fcinfo) {
        let kind = hash_kind_of_arg(fcinfo, 0);
        datum_i64(hash_value(kind, arg_datum(fcinfo, 0), checked_seed(fcinfo)))
    }
}
