//! hll_hash_*: MurmurHash3 x64-128 (low 64 bits) over the bytes postgresql-hll hashes, so
//! stored sketches and application-side hashes stay valid across the switch.

use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::murmur3::hll_hash;

use crate::fmgr::*;
use crate::{pg_v1_fn, pg_v1_fn_unguarded};

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
        let value = (arg_datum(fcinfo, 0).value() as u64).to_ne_bytes();
        let seed = arg_i32(fcinfo, 1);
        if seed >= 0 {
            datum_i64(hll_hash(&value[..LEN], seed))
        } else {
            hash_with_negative_seed(fcinfo, &value[..LEN])
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

pg_v1_fn! {
    /// Any type: pass-by-value types hash their bytes, varlenas their detoasted content,
    /// C strings their characters, and other fixed-size types their binary send form
    /// (postgresql-hll's rule; it hashes the pointer of 8-byte by-reference types such as
    /// macaddr8 and misreads cstrings, which this does not).
    fn pg_rollup_hll_hash_any / pg_finfo_pg_rollup_hll_hash_any (fcinfo) {
        let type_oid = pg_sys::get_fn_expr_argtype((*fcinfo).flinfo, 0);
        if type_oid == pg_sys::InvalidOid {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_INDETERMINATE_DATATYPE, "could not determine the type of hll_hash_any's argument");
        }
        let mut len: i16 = 0;
        let mut by_value = false;
        pg_sys::get_typlenbyval(type_oid, &mut len, &mut by_value);
        match (len, by_value) {
            (1, true) => hash_by_value::<1>(fcinfo),
            (2, true) => hash_by_value::<2>(fcinfo),
            (4, true) => hash_by_value::<4>(fcinfo),
            (8, true) => hash_by_value::<8>(fcinfo),
            (-1, _) => datum_i64(hll_hash(arg_bytes(fcinfo, 0), checked_seed(fcinfo))),
            (-2, _) => {
                let s = std::ffi::CStr::from_ptr(arg_datum(fcinfo, 0).cast_mut_ptr());
                datum_i64(hll_hash(s.to_bytes(), checked_seed(fcinfo)))
            }
            _ => {
                let mut send_fn = pg_sys::InvalidOid;
                let mut is_varlena = false;
                pg_sys::getTypeBinaryOutputInfo(type_oid, &mut send_fn, &mut is_varlena);
                let sent = pg_sys::OidSendFunctionCall(send_fn, arg_datum(fcinfo, 0));
                datum_i64(hll_hash(varlena_bytes(pg_sys::Datum::from(sent)), checked_seed(fcinfo)))
            }
        }
    }
}
