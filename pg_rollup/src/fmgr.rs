//! Version-1 calling convention glue for the functions whose SQL is written by hand
//! (sketch types and aggregates need exact signatures that pgrx cannot express).
//!
//! C symbols carry a `pg_rollup_` prefix: postgresql-hll can be loaded in the same backend
//! (for side-by-side comparisons) and exports the unprefixed names.

use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::{Error, ErrorKind};

/// Defines `extern "C-unwind" fn $symbol(fcinfo) -> Datum` and its `pg_finfo_$symbol`
/// record; Rust panics and PostgreSQL errors inside are turned into proper ERRORs.
#[macro_export]
macro_rules! pg_v1_fn {
    ($(#[$meta:meta])* fn $symbol:ident / $finfo:ident ($fcinfo:ident) $body:block) => {
        $crate::pg_v1_fn_unguarded! {
            $(#[$meta])*
            fn $symbol / $finfo ($fcinfo) {
                $crate::fmgr::guarded(move || unsafe { $body })
            }
        }
    };
}

/// Like `pg_v1_fn!` but without the panic/error guard around the body: for per-row hot paths
/// that take a fast branch which cannot fail or panic, and wrap everything else in [`guarded`].
#[macro_export]
macro_rules! pg_v1_fn_unguarded {
    ($(#[$meta:meta])* fn $symbol:ident / $finfo:ident ($fcinfo:ident) $body:block) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static ::pgrx::pg_sys::Pg_finfo_record {
            const V1: ::pgrx::pg_sys::Pg_finfo_record = ::pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }

        $(#[$meta])*
        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $symbol($fcinfo: ::pgrx::pg_sys::FunctionCallInfo) -> ::pgrx::pg_sys::Datum {
            #[allow(unused_unsafe)]
            unsafe { $body }
        }
    };
}

/// Runs `f` behind pgrx's guard: Rust panics and PostgreSQL errors become proper ERRORs.
#[inline(always)]
pub unsafe fn guarded<R>(f: impl FnOnce() -> R) -> R {
    unsafe { pgrx::pg_sys::submodules::panic::pgrx_extern_c_guard(f) }
}

/// Raises a core error as a PostgreSQL ERROR with the SQLSTATE of its kind.
pub fn raise(e: Error) -> ! {
    let code = match e.kind {
        ErrorKind::InvalidParameter => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        ErrorKind::Corrupt => PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
        ErrorKind::Mismatch => PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
        ErrorKind::TooLarge => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
    };
    ereport!(ERROR, code, e.message);
}

pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, Error> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| raise(e))
    }
}

/// Argument `n`, which the SQL declaration guarantees exists (no bounds check, no panic path).
#[inline(always)]
unsafe fn nullable_arg(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> pg_sys::NullableDatum {
    unsafe { *(*fcinfo).args.as_ptr().add(n) }
}

#[inline(always)]
pub unsafe fn arg_is_null(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> bool {
    unsafe { nullable_arg(fcinfo, n).isnull }
}

#[inline(always)]
pub unsafe fn arg_datum(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> pg_sys::Datum {
    unsafe { nullable_arg(fcinfo, n).value }
}

#[inline(always)]
pub unsafe fn arg_i32(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> i32 {
    unsafe { arg_datum(fcinfo, n).value() as i32 }
}

#[inline(always)]
pub unsafe fn arg_i64(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> i64 {
    unsafe { arg_datum(fcinfo, n).value() as i64 }
}

/// The bytes of a varlena argument, detoasted (short headers are kept, not copied).
pub unsafe fn arg_bytes<'a>(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> &'a [u8] {
    unsafe { varlena_bytes(arg_datum(fcinfo, n)) }
}

#[inline]
pub unsafe fn varlena_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    use pgrx::varlena::{varatt_is_1b_e, varatt_is_4b_c, vardata_any, varsize_any_exhdr};
    unsafe {
        let mut v: *mut pg_sys::varlena = datum.cast_mut_ptr();
        // Only external or compressed values need PostgreSQL to detoast them; plain ones are
        // read in place (each call into PostgreSQL costs a setjmp guard).
        if varatt_is_1b_e(v) || varatt_is_4b_c(v) {
            v = pg_sys::pg_detoast_datum_packed(v);
        }
        std::slice::from_raw_parts(vardata_any(v) as *const u8, varsize_any_exhdr(v))
    }
}

/// Which bytes stand for a value of some type: pass-by-value types their bytes, varlenas
/// their detoasted content, C strings their characters, other fixed-size types their binary
/// send form. Equal bytes mean equal values (the converse need not hold).
#[derive(Clone, Copy)]
pub enum ValueKind {
    ByValue(usize),
    Varlena,
    CString,
    Send(pg_sys::Oid),
}

/// The [`ValueKind`] of argument `n`'s type (catalog lookups: call behind the guard).
pub unsafe fn value_kind_of_arg(fcinfo: pg_sys::FunctionCallInfo, n: i32) -> ValueKind {
    unsafe {
        let type_oid = pg_sys::get_fn_expr_argtype((*fcinfo).flinfo, n);
        if type_oid == pg_sys::InvalidOid {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_INDETERMINATE_DATATYPE,
                format!("could not determine the type of argument {}", n + 1)
            );
        }
        value_kind_of_type(type_oid)
    }
}

/// The [`ValueKind`] of a type (catalog lookups: call behind the guard).
pub unsafe fn value_kind_of_type(type_oid: pg_sys::Oid) -> ValueKind {
    unsafe {
        let mut len: i16 = 0;
        let mut by_value = false;
        pg_sys::get_typlenbyval(type_oid, &mut len, &mut by_value);
        match (len, by_value) {
            (1 | 2 | 4 | 8, true) => ValueKind::ByValue(len as usize),
            (-1, _) => ValueKind::Varlena,
            (-2, _) => ValueKind::CString,
            _ => {
                let mut send_fn = pg_sys::InvalidOid;
                let mut is_varlena = false;
                pg_sys::getTypeBinaryOutputInfo(type_oid, &mut send_fn, &mut is_varlena);
                ValueKind::Send(send_fn)
            }
        }
    }
}

/// Calls `f` with the bytes that stand for `value` (may detoast or call the send function:
/// call behind the guard).
pub unsafe fn with_value_bytes<R>(
    kind: ValueKind,
    value: pg_sys::Datum,
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    unsafe {
        match kind {
            ValueKind::ByValue(len) => f(&(value.value() as u64).to_ne_bytes()[..len]),
            ValueKind::Varlena => f(varlena_bytes(value)),
            ValueKind::CString => f(std::ffi::CStr::from_ptr(value.cast_mut_ptr()).to_bytes()),
            ValueKind::Send(send_fn) => f(varlena_bytes(pg_sys::Datum::from(
                pg_sys::OidSendFunctionCall(send_fn, value),
            ))),
        }
    }
}

/// A new varlena holding a copy of `bytes`.
pub fn bytes_datum(bytes: &[u8]) -> pg_sys::Datum {
    new_varlena(bytes.len(), |out| out.copy_from_slice(bytes))
}

/// The bytes a binary receive function is given, consuming them from its buffer.
pub unsafe fn recv_bytes<'a>(fcinfo: pg_sys::FunctionCallInfo) -> &'a [u8] {
    unsafe {
        let buf = arg_datum(fcinfo, 0).cast_mut_ptr::<pg_sys::StringInfoData>();
        let start = (*buf).cursor as usize;
        let bytes = std::slice::from_raw_parts(
            (*buf).data.add(start) as *const u8,
            (*buf).len as usize - start,
        );
        (*buf).cursor = (*buf).len;
        bytes
    }
}

/// An aggregate's `internal` state argument (a pointer into the aggregate memory context).
pub unsafe fn state_arg<'a, T>(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> Option<&'a mut T> {
    unsafe {
        if arg_is_null(fcinfo, n) {
            None
        } else {
            Some(&mut *arg_datum(fcinfo, n).cast_mut_ptr::<T>())
        }
    }
}

pub fn state_datum<T>(state: &mut T) -> pg_sys::Datum {
    pg_sys::Datum::from(state as *mut T)
}

/// For a NULL input: the state as it is (NULL until the first non-NULL input).
pub unsafe fn unchanged_state<T>(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe {
        match state_arg::<T>(fcinfo, 0) {
            Some(s) => state_datum(s),
            None => return_null(fcinfo),
        }
    }
}

/// A new varlena of `len` data bytes in the current memory context, filled by `fill`.
/// Called behind a guard: a value over PostgreSQL's 1 GB limit is refused (54000) before
/// anything is allocated.
pub fn new_varlena(len: usize, fill: impl FnOnce(&mut [u8])) -> pg_sys::Datum {
    // MaxAllocSize (utils/memutils.h), the largest palloc and so the largest value.
    const MAX_ALLOC_SIZE: usize = 0x3fff_ffff;
    if len > MAX_ALLOC_SIZE - pg_sys::VARHDRSZ {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("a sketch of {len} bytes exceeds the 1 GB limit of a PostgreSQL value")
        );
    }
    unsafe {
        let total = len + pg_sys::VARHDRSZ;
        let v = pg_sys::palloc(total) as *mut pg_sys::varlena;
        pgrx::varlena::set_varsize_4b(v, total as i32);
        fill(std::slice::from_raw_parts_mut(
            (v as *mut u8).add(pg_sys::VARHDRSZ),
            len,
        ));
        pg_sys::Datum::from(v)
    }
}

pub unsafe fn return_null(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe { (*fcinfo).isnull = true };
    pg_sys::Datum::from(0usize)
}

pub fn datum_i32(v: i32) -> pg_sys::Datum {
    pg_sys::Datum::from(v)
}

pub fn datum_i64(v: i64) -> pg_sys::Datum {
    pg_sys::Datum::from(v)
}

pub fn datum_f64(v: f64) -> pg_sys::Datum {
    pg_sys::Datum::from(v.to_bits() as i64)
}

/// A palloc'd C string for functions that return `cstring`.
pub fn datum_cstring(s: &str) -> pg_sys::Datum {
    unsafe {
        let p = pg_sys::palloc(s.len() + 1) as *mut u8;
        std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
        *p.add(s.len()) = 0;
        pg_sys::Datum::from(p)
    }
}

/// The aggregate memory context; errors when called outside an aggregate.
pub unsafe fn agg_context(fcinfo: pg_sys::FunctionCallInfo, what: &str) -> pg_sys::MemoryContext {
    let mut ctx: pg_sys::MemoryContext = std::ptr::null_mut();
    if unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut ctx) } == 0 {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("{what} called outside an aggregate")
        );
    }
    ctx
}

/// The row type the function returns (its OUT parameters or TABLE columns).
unsafe fn result_tupdesc(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::TupleDesc {
    unsafe {
        let mut tupdesc: pg_sys::TupleDesc = std::ptr::null_mut();
        if pg_sys::get_call_result_type(fcinfo, std::ptr::null_mut(), &mut tupdesc)
            != pg_sys::TypeFuncClass::TYPEFUNC_COMPOSITE
        {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "function returning a record called in a context that cannot accept one"
            );
        }
        tupdesc
    }
}

/// A composite result built from the function's declared OUT parameters.
pub unsafe fn return_record(
    fcinfo: pg_sys::FunctionCallInfo,
    values: &[pg_sys::Datum],
) -> pg_sys::Datum {
    unsafe {
        let tupdesc = pg_sys::BlessTupleDesc(result_tupdesc(fcinfo));
        let mut values = values.to_vec();
        let mut nulls = vec![false; values.len()];
        let tuple = pg_sys::heap_form_tuple(tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
        pg_sys::HeapTupleHeaderGetDatum((*tuple).t_data)
    }
}

/// The result of a set-returning function, all rows at once (materialize mode: a tuplestore
/// in the query's memory). `fill(i, values, nulls)` sets the columns of row `i`.
pub unsafe fn return_rows(
    fcinfo: pg_sys::FunctionCallInfo,
    rows: usize,
    mut fill: impl FnMut(usize, &mut [pg_sys::Datum], &mut [bool]),
) -> pg_sys::Datum {
    unsafe {
        let rsinfo = (*fcinfo).resultinfo as *mut pg_sys::ReturnSetInfo;
        if rsinfo.is_null()
            || (*rsinfo).type_ != pg_sys::NodeTag::T_ReturnSetInfo
            || (*rsinfo).allowedModes & pg_sys::SetFunctionReturnMode::SFRM_Materialize as i32 == 0
        {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "set-valued function called in context that cannot accept a set"
            );
        }
        let tupdesc = result_tupdesc(fcinfo);
        let old = pg_sys::MemoryContextSwitchTo((*(*rsinfo).econtext).ecxt_per_query_memory);
        let tupdesc = pg_sys::CreateTupleDescCopy(tupdesc);
        let random = (*rsinfo).allowedModes
            & pg_sys::SetFunctionReturnMode::SFRM_Materialize_Random as i32
            != 0;
        let store = pg_sys::tuplestore_begin_heap(random, false, pg_sys::work_mem);
        pg_sys::MemoryContextSwitchTo(old);
        let natts = (*tupdesc).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0); natts];
        let mut nulls = vec![false; natts];
        for i in 0..rows {
            fill(i, &mut values, &mut nulls);
            pg_sys::tuplestore_putvalues(store, tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
        }
        (*rsinfo).returnMode = pg_sys::SetFunctionReturnMode::SFRM_Materialize;
        (*rsinfo).setResult = store;
        (*rsinfo).setDesc = tupdesc;
        return_null(fcinfo)
    }
}

/// A `text` datum of bytes that came from a text value of this database; bytes that are not
/// valid in its encoding (a sketch made elsewhere) are shown with replacement characters.
pub fn text_datum(bytes: &[u8]) -> pg_sys::Datum {
    let valid = unsafe {
        pg_sys::pg_verifymbstr(
            bytes.as_ptr() as *const std::ffi::c_char,
            bytes.len() as i32,
            true,
        )
    };
    let lossy;
    let bytes = if valid {
        bytes
    } else {
        lossy = String::from_utf8_lossy(bytes).into_owned();
        lossy.as_bytes()
    };
    new_varlena(bytes.len(), |out| out.copy_from_slice(bytes))
}
