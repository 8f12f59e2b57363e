//! Text and binary input/output, the type modifier, and casts.

use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::hll::{codec, HllParams};

use super::{session, view};
use crate::fmgr::*;
use crate::pg_v1_fn;

/// Checks stored bytes and returns them as an hll datum.
fn validated(bytes: &[u8], typmod: i32) -> pg_sys::Datum {
    let v = view(bytes);
    if typmod != -1 {
        HllParams::from_typmod(typmod)
            .or_raise()
            .check_compatible(&v.params)
            .or_raise();
    }
    bytes_datum(bytes)
}

fn parse_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

pg_v1_fn! {
    /// hll_in(cstring, oid, typmod): `\x` hex (or bytea escape format), validated.
    fn pg_rollup_hll_in / pg_finfo_pg_rollup_hll_in (call) {
        let text = call.cstr(0).to_bytes();
        let typmod = call.i32(2);
        if let Some(hex) = text.strip_prefix(b"\\x") {
            match parse_hex(hex) {
                Some(bytes) => validated(&bytes, typmod),
                None => {
                    ereport!(
                        ERROR,
                        PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
                        "invalid input syntax for type hll",
                        "an hll is written as \\x followed by an even number of hex digits"
                    );
                }
            }
        } else {
            // The escape format, through PostgreSQL's own bytea parser.
            // SAFETY: byteain takes the cstring argument and returns a bytea.
            let bytes = unsafe {
                let bytea = pgrx::fcinfo::direct_function_call_as_datum(pg_sys::byteain, &[Some(call.datum(0))])
                    .expect("byteain returned NULL");
                varlena_bytes(bytea)
            };
            validated(bytes, typmod)
        }
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_out / pg_finfo_pg_rollup_hll_out (call) {
        let bytes = call.bytes(0);
        let mut s = String::with_capacity(2 + bytes.len() * 2);
        s.push_str("\\x");
        for b in bytes {
            use std::fmt::Write;
            let _ = write!(s, "{b:02x}");
        }
        datum_cstring(&s)
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_recv / pg_finfo_pg_rollup_hll_recv (call) {
        validated(call.recv_bytes(), -1)
    }
}

/// Parses one type modifier: a decimal integer.
fn typmod_value(s: &str) -> i64 {
    s.trim().parse::<i64>().unwrap_or_else(|_| {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("hll type modifier \"{s}\" is not an integer")
        );
    })
}

pg_v1_fn! {
    /// hll(log2m [, regwidth [, expthresh [, sparseon]]]); missing ones take the session defaults.
    fn pg_rollup_hll_typmod_in / pg_finfo_pg_rollup_hll_typmod_in (call) {
        let mut elems: *mut pg_sys::Datum = std::ptr::null_mut();
        let mut count: i32 = 0;
        // SAFETY: a typmod input function's argument is a cstring[] (one-dimensional, no
        // NULLs), which deconstruct_array splits into `count` C strings.
        let modifiers: Vec<String> = unsafe {
            let array = pg_sys::pg_detoast_datum(call.datum(0).cast_mut_ptr()) as *mut pg_sys::ArrayType;
            pg_sys::deconstruct_array(array, pg_sys::CSTRINGOID, -2, false, b'c' as std::ffi::c_char, &mut elems, std::ptr::null_mut(), &mut count);
            (0..count.max(0) as usize)
                .map(|i| std::ffi::CStr::from_ptr((*elems.add(i)).cast_mut_ptr()).to_string_lossy().into_owned())
                .collect()
        };
        if !(1..=4).contains(&count) {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, "invalid number of type modifiers", "hll takes one to four: log2m, regwidth, expthresh, sparseon");
        }
        let values: Vec<i64> = modifiers.iter().map(|m| typmod_value(m)).collect();
        let d = session().defaults;
        let get = |i: usize, default: i64| values.get(i).copied().unwrap_or(default);
        let params = HllParams::new(
            get(0, i64::from(d.log2m)),
            get(1, i64::from(d.regwidth)),
            get(2, d.expthresh),
            get(3, i64::from(d.sparseon)),
        ).or_raise();
        datum_i32(params.to_typmod())
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_typmod_out / pg_finfo_pg_rollup_hll_typmod_out (call) {
        let p = HllParams::from_typmod(call.i32(0)).or_raise();
        datum_cstring(&format!("({},{},{},{})", p.log2m, p.regwidth, p.expthresh, u8::from(p.sparseon)))
    }
}

pg_v1_fn! {
    /// Coercion to a column's typmod: the value must already carry those parameters.
    fn pg_rollup_hll_typmod_cast / pg_finfo_pg_rollup_hll_typmod_cast (call) {
        let typmod = call.i32(1);
        if typmod != -1 {
            let v = view(call.bytes(0));
            HllParams::from_typmod(typmod).or_raise().check_compatible(&v.params).or_raise();
        }
        call.datum(0)
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_from_bytea / pg_finfo_pg_rollup_hll_from_bytea (call) {
        let bytes = call.bytes(0);
        codec::decode(bytes).or_raise();
        call.datum(0)
    }
}
