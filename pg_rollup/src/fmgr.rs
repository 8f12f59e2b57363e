//! Version-1 calling convention glue for the functions whose SQL is written by hand
//! (sketch types and aggregates need exact signatures that pgrx cannot express).
//!
//! C symbols carry a `pg_rollup_` prefix: postgresql-hll can be loaded in the same backend
//! (for side-by-side comparisons) and exports the unprefixed names.

use std::marker::PhantomData;

use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::{Error, ErrorKind};

use crate::memory::MemCtx;

/// Defines `extern "C-unwind" fn $symbol(fcinfo) -> Datum` and its `pg_finfo_$symbol`
/// record; the body sees the call as a [`Call`] named `$call`. Rust panics and PostgreSQL
/// errors inside are turned into proper ERRORs.
#[macro_export]
macro_rules! pg_v1_fn {
    ($(#[$meta:meta])* fn $symbol:ident / $finfo:ident ($call:ident) $body:block) => {
        $crate::pg_v1_fn_unguarded! {
            $(#[$meta])*
            fn $symbol / $finfo ($call) {
                $crate::fmgr::guarded(move || $body)
            }
        }
    };
}

/// Like `pg_v1_fn!` but without the panic/error guard around the body: for per-row hot paths
/// that take a fast branch which cannot fail or panic, and wrap everything else in [`guarded`].
#[macro_export]
macro_rules! pg_v1_fn_unguarded {
    ($(#[$meta:meta])* fn $symbol:ident / $finfo:ident ($call:ident) $body:block) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static ::pgrx::pg_sys::Pg_finfo_record {
            const V1: ::pgrx::pg_sys::Pg_finfo_record = ::pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }

        $(#[$meta])*
        ///
        /// # Safety
        /// Called by PostgreSQL's function manager only, as the function its SQL declares.
        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $symbol(fcinfo: ::pgrx::pg_sys::FunctionCallInfo) -> ::pgrx::pg_sys::Datum {
            // SAFETY: PostgreSQL passes the call of the function declared in SQL with this symbol.
            let $call = unsafe { $crate::fmgr::Call::new(fcinfo) };
            $body
        }
    };
}

/// Runs `f` behind pgrx's guard: Rust panics and PostgreSQL errors become proper ERRORs.
/// For the functions PostgreSQL calls (`pg_v1_fn!`) and what they call.
#[inline(always)]
pub fn guarded<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: we are inside a function PostgreSQL called, so an ERROR raised by the guard
    // longjmps to PostgreSQL's handler, past no Rust frame that owns anything (the guard
    // has dropped what `f` owned when it caught the panic).
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

/// One call of a function of this library from PostgreSQL's function manager. Made only by
/// `pg_v1_fn!`; its accessors trust the function's SQL declaration for the number and types of
/// the arguments (argument `n` exists; a varlena accessor is used only on a varlena argument).
#[derive(Clone, Copy)]
pub struct Call<'a> {
    fcinfo: pg_sys::FunctionCallInfo,
    _call: PhantomData<&'a mut pg_sys::FunctionCallInfoBaseData>,
}

impl<'a> Call<'a> {
    /// # Safety
    /// `fcinfo` is the valid call info PostgreSQL passed to the function, whose SQL declaration
    /// matches how its body uses the accessors; the call lasts as long as `'a`.
    pub unsafe fn new(fcinfo: pg_sys::FunctionCallInfo) -> Self {
        Call {
            fcinfo,
            _call: PhantomData,
        }
    }

    /// The raw call info, for PostgreSQL functions that take it.
    pub fn raw(self) -> pg_sys::FunctionCallInfo {
        self.fcinfo
    }

    /// The number of arguments of this call.
    #[inline(always)]
    pub fn nargs(self) -> usize {
        // SAFETY: a valid call info (Call::new).
        unsafe { (*self.fcinfo).nargs as usize }
    }

    /// Argument `n`, which the SQL declaration guarantees exists (no bounds check, no panic path).
    #[inline(always)]
    fn arg(self, n: usize) -> pg_sys::NullableDatum {
        // SAFETY: the declaration has at least n + 1 arguments (Call::new), which the call
        // info holds after its header.
        unsafe { *(*self.fcinfo).args.as_ptr().add(n) }
    }

    #[inline(always)]
    pub fn is_null(self, n: usize) -> bool {
        self.arg(n).isnull
    }

    #[inline(always)]
    pub fn datum(self, n: usize) -> pg_sys::Datum {
        self.arg(n).value
    }

    #[inline(always)]
    pub fn i32(self, n: usize) -> i32 {
        self.datum(n).value() as i32
    }

    #[inline(always)]
    pub fn i64(self, n: usize) -> i64 {
        self.datum(n).value() as i64
    }

    /// A float8 argument (passed by value).
    #[inline(always)]
    pub fn f64(self, n: usize) -> f64 {
        f64::from_bits(self.datum(n).value() as u64)
    }

    /// The bytes of varlena argument `n`, detoasted (short headers are kept, not copied).
    pub fn bytes(self, n: usize) -> &'a [u8] {
        // SAFETY: argument n is a non-NULL varlena (the declaration; callers check NULLs),
        // valid for the call.
        unsafe { varlena_bytes(self.datum(n)) }
    }

    /// The characters of cstring argument `n` (a type's input function).
    pub fn cstr(self, n: usize) -> &'a std::ffi::CStr {
        // SAFETY: argument n is a NUL-terminated string valid for the call (the declaration).
        unsafe { std::ffi::CStr::from_ptr(self.datum(n).cast_mut_ptr()) }
    }

    /// The bytes a binary receive function is given (argument 0), consuming them from its buffer.
    pub fn recv_bytes(self) -> &'a [u8] {
        // SAFETY: a receive function's argument 0 is a StringInfo whose cursor is within its
        // `len` bytes of data.
        unsafe {
            let buf = self.datum(0).cast_mut_ptr::<pg_sys::StringInfoData>();
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
    ///
    /// # Safety
    /// Argument `n` is an `internal` state of type `T` made by this aggregate's functions,
    /// and nothing else refers to it while the result is used.
    pub unsafe fn state<T>(self, n: usize) -> Option<&'a mut T> {
        if self.is_null(n) {
            None
        } else {
            // SAFETY: a state of type T, referred to only from here (the caller's promise).
            Some(unsafe { &mut *self.datum(n).cast_mut_ptr::<T>() })
        }
    }

    /// For a NULL input: state argument 0 as it is (NULL until the first non-NULL input).
    pub fn unchanged_state(self) -> pg_sys::Datum {
        if self.is_null(0) {
            self.return_null()
        } else {
            self.datum(0)
        }
    }

    /// Makes the result NULL.
    pub fn return_null(self) -> pg_sys::Datum {
        // SAFETY: a valid call info (Call::new), whose result flag is the function's to set.
        unsafe { (*self.fcinfo).isnull = true };
        pg_sys::Datum::from(0usize)
    }

    /// The aggregate memory context; errors when called outside an aggregate.
    pub fn agg_context(self, what: &str) -> MemCtx {
        let mut ctx: pg_sys::MemoryContext = std::ptr::null_mut();
        // SAFETY: a valid call info; AggCheckCallContext only reads it.
        if unsafe { pg_sys::AggCheckCallContext(self.fcinfo, &mut ctx) } == 0 {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("{what} called outside an aggregate")
            );
        }
        // SAFETY: the aggregate's context outlives its states and this call.
        unsafe { MemCtx::new(ctx) }
    }

    /// The call site's cache (`fn_extra`, in the call site's memory, kept across the rows of a
    /// query), made by `init` on the first call.
    ///
    /// # Safety
    /// Every call of this function uses the same `T`, and no other reference to the cache is
    /// live while the result is used.
    pub unsafe fn call_site_cache<T>(self, init: impl FnOnce(MemCtx) -> T) -> &'a mut T {
        // SAFETY: flinfo belongs to the call site and lives as long as its fn_mcxt; fn_extra
        // is this function's to use, and holds a T whenever it is set (the caller's promise).
        unsafe {
            let flinfo = (*self.fcinfo).flinfo;
            if (*flinfo).fn_extra.is_null() {
                let ctx = MemCtx::new((*flinfo).fn_mcxt);
                (*flinfo).fn_extra = ctx.leak(init(ctx)).cast();
            }
            &mut *((*flinfo).fn_extra as *mut T)
        }
    }

    /// The [`ValueKind`] of argument `n`'s type (catalog lookups: call behind the guard).
    pub fn value_kind_of_arg(self, n: usize) -> ValueKind {
        // SAFETY: a valid call info, whose flinfo get_fn_expr_argtype reads.
        let type_oid = unsafe { pg_sys::get_fn_expr_argtype((*self.fcinfo).flinfo, n as i32) };
        if type_oid == pg_sys::InvalidOid {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_INDETERMINATE_DATATYPE,
                format!("could not determine the type of argument {}", n + 1)
            );
        }
        value_kind_of_type(type_oid)
    }

    /// The row type the function returns (its OUT parameters or TABLE columns).
    fn result_tupdesc(self) -> pg_sys::TupleDesc {
        let mut tupdesc: pg_sys::TupleDesc = std::ptr::null_mut();
        // SAFETY: a valid call info; get_call_result_type fills `tupdesc` or says it cannot.
        let class = unsafe {
            pg_sys::get_call_result_type(self.fcinfo, std::ptr::null_mut(), &mut tupdesc)
        };
        if class != pg_sys::TypeFuncClass::TYPEFUNC_COMPOSITE {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "function returning a record called in a context that cannot accept one"
            );
        }
        tupdesc
    }

    /// A composite result of the function's declared OUT parameters, all non-NULL.
    pub fn return_record(self, values: &[pg_sys::Datum]) -> pg_sys::Datum {
        let mut values = values.to_vec();
        let mut nulls = vec![false; values.len()];
        // SAFETY: the row type has as many columns as the declaration has OUT parameters,
        // which is how many values the function gives (the declaration).
        unsafe {
            let tupdesc = pg_sys::BlessTupleDesc(self.result_tupdesc());
            let tuple = pg_sys::heap_form_tuple(tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
            pg_sys::HeapTupleHeaderGetDatum((*tuple).t_data)
        }
    }

    /// The result of a set-returning function, all rows at once (materialize mode: a
    /// tuplestore in the query's memory). `fill(i, values, nulls)` sets the columns of row `i`.
    pub fn return_rows(
        self,
        rows: usize,
        mut fill: impl FnMut(usize, &mut [pg_sys::Datum], &mut [bool]),
    ) -> pg_sys::Datum {
        // SAFETY: resultinfo is checked to be a ReturnSetInfo that accepts materialize mode
        // before it is used; the tuplestore and its tuple descriptor are made in the query's
        // memory, which outlives the result; each row has the descriptor's number of columns.
        unsafe {
            let rsinfo = (*self.fcinfo).resultinfo as *mut pg_sys::ReturnSetInfo;
            if rsinfo.is_null()
                || (*rsinfo).type_ != pg_sys::NodeTag::T_ReturnSetInfo
                || (*rsinfo).allowedModes & pg_sys::SetFunctionReturnMode::SFRM_Materialize as i32
                    == 0
            {
                ereport!(
                    ERROR,
                    PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                    "set-valued function called in context that cannot accept a set"
                );
            }
            let tupdesc = self.result_tupdesc();
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
                pg_sys::tuplestore_putvalues(
                    store,
                    tupdesc,
                    values.as_mut_ptr(),
                    nulls.as_mut_ptr(),
                );
            }
            (*rsinfo).returnMode = pg_sys::SetFunctionReturnMode::SFRM_Materialize;
            (*rsinfo).setResult = store;
            (*rsinfo).setDesc = tupdesc;
        }
        self.return_null()
    }
}

/// The bytes of a varlena datum, detoasted (short headers are kept, not copied).
///
/// # Safety
/// `datum` points to a varlena that stays valid for `'a`.
#[inline]
pub unsafe fn varlena_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    use pgrx::varlena::{varatt_is_1b_e, varatt_is_4b_c, vardata_any, varsize_any_exhdr};
    // SAFETY: a valid varlena (the caller's promise); a detoasted copy lives in the current
    // memory context, at least as long as the call.
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

/// The [`ValueKind`] of a type (catalog lookups: call behind the guard).
pub fn value_kind_of_type(type_oid: pg_sys::Oid) -> ValueKind {
    let mut len: i16 = 0;
    let mut by_value = false;
    // SAFETY: catalog lookups that write only the out parameters (or raise an ERROR).
    unsafe { pg_sys::get_typlenbyval(type_oid, &mut len, &mut by_value) };
    match (len, by_value) {
        (1 | 2 | 4 | 8, true) => ValueKind::ByValue(len as usize),
        (-1, _) => ValueKind::Varlena,
        (-2, _) => ValueKind::CString,
        _ => {
            let mut send_fn = pg_sys::InvalidOid;
            let mut is_varlena = false;
            // SAFETY: as above.
            unsafe { pg_sys::getTypeBinaryOutputInfo(type_oid, &mut send_fn, &mut is_varlena) };
            ValueKind::Send(send_fn)
        }
    }
}

/// Calls `f` with the bytes that stand for `value` (may detoast or call the send function:
/// call behind the guard).
///
/// # Safety
/// `value` is a non-NULL value of a type whose kind is `kind`, valid during the call.
pub unsafe fn with_value_bytes<R>(
    kind: ValueKind,
    value: pg_sys::Datum,
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    // SAFETY: `value` is of `kind` (the caller's promise): a varlena, a C string, or a value
    // the send function takes, which returns a bytea.
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

/// A state as the `internal` datum an aggregate passes around.
pub fn state_datum<T>(state: &mut T) -> pg_sys::Datum {
    pg_sys::Datum::from(state as *mut T)
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
    let total = len + pg_sys::VARHDRSZ;
    // SAFETY: a fresh chunk of `total` bytes (at most MaxAllocSize), whose header is set
    // before its `len` data bytes are handed out.
    unsafe {
        let v = pg_sys::palloc(total) as *mut pg_sys::varlena;
        pgrx::varlena::set_varsize_4b(v, total as i32);
        fill(std::slice::from_raw_parts_mut(
            (v as *mut u8).add(pg_sys::VARHDRSZ),
            len,
        ));
        pg_sys::Datum::from(v)
    }
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
    // SAFETY: a fresh chunk of len + 1 bytes, filled with the string and its NUL.
    unsafe {
        let p = pg_sys::palloc(s.len() + 1) as *mut u8;
        std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
        *p.add(s.len()) = 0;
        pg_sys::Datum::from(p)
    }
}

/// A `text` datum of bytes that came from a text value of this database; bytes that are not
/// valid in its encoding (a sketch made elsewhere) are shown with replacement characters.
pub fn text_datum(bytes: &[u8]) -> pg_sys::Datum {
    let lossy;
    let bytes = if valid_text(bytes) {
        bytes
    } else {
        lossy = String::from_utf8_lossy(bytes).into_owned();
        lossy.as_bytes()
    };
    new_varlena(bytes.len(), |out| out.copy_from_slice(bytes))
}

/// Whether `bytes` are valid text in the database encoding.
pub fn valid_text(bytes: &[u8]) -> bool {
    // SAFETY: pg_verifymbstr reads `len` bytes of the slice (noError: it only answers).
    unsafe {
        pg_sys::pg_verifymbstr(
            bytes.as_ptr() as *const std::ffi::c_char,
            bytes.len() as i32,
            true,
        )
    }
}
