//! Events (SPEC §3): per-platform uniqueness rules and bulk ingestion with dedup, written in
//! SQL (`sql/events.sql`); key expressions are checked with [`crate::sqlparse`]. Here: the
//! in-batch duplicate filter that lets ingestion insert without ON CONFLICT, and the COPY
//! loader of ingest views ([`loader`]).

use allocator_api2::vec::Vec;
use pgrx::pg_sys;
use rollup_core::keyset::KeySet;

use crate::fmgr::*;
use crate::memory::{leak_into, PgAllocator};
use crate::pg_v1_fn;

pub mod loader;

pgrx::extension_sql_file!(
    "../sql/events.sql",
    name = "events",
    requires = [sqlparse::parse_fragment, rollup::version]
);

/// One call site's keys seen so far, in the query's memory (freed with the query).
struct SeenKeys {
    kinds: Vec<ValueKind, PgAllocator>,
    keys: KeySet<PgAllocator>,
    key: Vec<u8, PgAllocator>,
}

/// Past this much memory a call site stops remembering keys (and calls every key new).
const MAX_MEMORY: usize = 256 << 20;

/// The most bytes the values of a key may take: above, a row is rejected ("the key is too
/// large") rather than left to fail its index (a btree entry holds at most ~2.7 kB; what is left
/// is for the other columns of the entry and the headers).
pub const MAX_KEY_BYTES: usize = 2000;

/// Whether a key fits MAX_KEY_BYTES, given its encoding (each of its `parts` values as a u32
/// length and its bytes, as _first_of_key and the COPY loader encode it).
pub fn key_fits(encoded: &[u8], parts: usize) -> bool {
    encoded.len() - 4 * parts <= MAX_KEY_BYTES
}

// rollup._key_fits(VARIADIC "any"): NULL when one of the values is NULL, else whether their
// bytes (as _first_of_key counts them) fit MAX_KEY_BYTES.
pg_v1_fn! {
    fn pg_rollup_key_fits / pg_finfo_pg_rollup_key_fits (fcinfo) {
        let nargs = (*fcinfo).nargs as usize;
        if (0..nargs).any(|n| arg_is_null(fcinfo, n)) {
            return return_null(fcinfo);
        }
        // The arguments' kinds, looked up once per call site.
        let flinfo = (*fcinfo).flinfo;
        if (*flinfo).fn_extra.is_null() {
            let mut kinds = Vec::with_capacity_in(nargs, PgAllocator((*flinfo).fn_mcxt));
            for n in 0..nargs {
                kinds.push(value_kind_of_arg(fcinfo, n as i32));
            }
            (*flinfo).fn_extra = leak_into((*flinfo).fn_mcxt, kinds).cast();
        }
        let kinds = &*((*flinfo).fn_extra as *const Vec<ValueKind, PgAllocator>);
        let mut total = 0;
        for (n, &kind) in kinds.iter().enumerate() {
            with_value_bytes(kind, arg_datum(fcinfo, n), |bytes| total += bytes.len());
        }
        pg_sys::Datum::from(total <= MAX_KEY_BYTES)
    }
}

// rollup._first_of_key(VARIADIC "any"): true the first time this call site of the running
// query sees these argument values, false when it has seen them before, NULL (and nothing
// remembered) when one of them is NULL or they do not fit MAX_KEY_BYTES. Values are compared by their bytes (fmgr::ValueKind),
// so two calls whose values are equal under a looser equality (numeric 1.0 and 1.00) both
// count as first, and so do all calls once the keys fill MAX_MEMORY: a filter that may let
// duplicates through, never drops a row that is not one.
pg_v1_fn! {
    fn pg_rollup_first_of_key / pg_finfo_pg_rollup_first_of_key (fcinfo) {
        let flinfo = (*fcinfo).flinfo;
        let nargs = (*fcinfo).nargs as usize;
        if (0..nargs).any(|n| arg_is_null(fcinfo, n)) {
            return return_null(fcinfo);
        }
        if (*flinfo).fn_extra.is_null() {
            let alloc = PgAllocator((*flinfo).fn_mcxt);
            let mut kinds = Vec::with_capacity_in(nargs, alloc);
            for n in 0..nargs {
                kinds.push(value_kind_of_arg(fcinfo, n as i32));
            }
            let seen = SeenKeys { kinds, keys: KeySet::new_in(alloc), key: Vec::new_in(alloc) };
            (*flinfo).fn_extra = leak_into((*flinfo).fn_mcxt, seen).cast();
        }
        let seen = &mut *((*flinfo).fn_extra as *mut SeenKeys);
        seen.key.clear();
        for n in 0..nargs {
            let key = &mut seen.key;
            with_value_bytes(seen.kinds[n], arg_datum(fcinfo, n), |bytes| {
                key.extend_from_slice(&(bytes.len() as u32).to_ne_bytes());
                key.extend_from_slice(bytes);
            });
        }
        if !key_fits(&seen.key, nargs) {
            return return_null(fcinfo);
        }
        if seen.keys.memory() > MAX_MEMORY {
            return pg_sys::Datum::from(true);
        }
        pg_sys::Datum::from(seen.keys.insert(&seen.key))
    }
}

/// The five characters of a SQLSTATE.
pub fn sqlstate(code: pgrx::PgSqlErrorCode) -> String {
    let packed = code as i32;
    (0..5)
        .map(|i| (((packed >> (6 * i)) & 0x3f) as u8 + b'0') as char)
        .collect()
}

/// Whether an error is one a single input row causes: a value its column does not take
/// (SQLSTATE class 22, but for encoding errors, after which input cannot be read safely).
pub fn value_error(code: pgrx::PgSqlErrorCode) -> bool {
    use pgrx::PgSqlErrorCode::*;
    code as i32 & 0xfff == ERRCODE_DATA_EXCEPTION as i32 & 0xfff
        && !matches!(
            code,
            ERRCODE_CHARACTER_NOT_IN_REPERTOIRE | ERRCODE_UNTRANSLATABLE_CHARACTER
        )
}

/// What rollup._read_row keeps per call site: jsonb_populate_record, and a record of NULLs.
#[repr(C)]
struct RowReader {
    finfo: pg_sys::FmgrInfo,
    nulls: pg_sys::Datum,
}

thread_local! {
    /// The objects rollup._read_row could not read since rollup._unread last took them: by
    /// position, the error.
    static UNREAD: std::cell::RefCell<std::collections::BTreeMap<i64, String>> = Default::default();
}

// rollup._read_row(event jsonb, rowtype anyelement, pos bigint) RETURNS anyelement: `event`
// read as a row of the type of `rowtype` by PostgreSQL's own jsonb_populate_record (as
// rollup.ingest_json reads a batch), or NULL when a value does not read (a value error, see
// [`value_error`]): then the error is kept under `pos` for rollup._unread. Other errors are
// raised. Each read runs in a subtransaction of its own, in which nothing is written (cheap).
pg_v1_fn! {
    fn pg_rollup_read_row / pg_finfo_pg_rollup_read_row (fcinfo) {
        use pgrx::pg_sys::panic::CaughtError;
        use pgrx::prelude::PgTryBuilder;
        if arg_is_null(fcinfo, 0) {
            return return_null(fcinfo);
        }
        let flinfo = (*fcinfo).flinfo;
        if (*flinfo).fn_extra.is_null() {
            // jsonb_populate_record(<the row type's record of NULLs>, event), set up once per
            // call site (a record of NULLs reads as NULL::rowtype does, and passes as a value).
            let old = pg_sys::MemoryContextSwitchTo((*flinfo).fn_mcxt);
            let rowtype = pg_sys::get_fn_expr_argtype(flinfo, 1);
            let reader = pg_sys::palloc0(std::mem::size_of::<RowReader>()) as *mut RowReader;
            let populate = pg_sys::Oid::from(pg_sys::F_JSONB_POPULATE_RECORD);
            pg_sys::fmgr_info_cxt(populate, &mut (*reader).finfo, (*flinfo).fn_mcxt);
            let args = pg_sys::lappend(
                pg_sys::lappend(std::ptr::null_mut(), pg_sys::makeNullConst(rowtype, -1, pg_sys::InvalidOid).cast()),
                pg_sys::makeNullConst(pg_sys::JSONBOID, -1, pg_sys::InvalidOid).cast(),
            );
            (*reader).finfo.fn_expr = pg_sys::makeFuncExpr(populate, rowtype, args, pg_sys::InvalidOid, pg_sys::InvalidOid,
                pg_sys::CoercionForm::COERCE_EXPLICIT_CALL).cast();
            let desc = pg_sys::lookup_rowtype_tupdesc(rowtype, -1);
            let natts = (*desc).natts as usize;
            let values = vec![pg_sys::Datum::null(); natts.max(1)];
            let mut nulls = vec![true; natts.max(1)];
            let tuple = pg_sys::heap_form_tuple(desc, values.as_ptr() as *mut _, nulls.as_mut_ptr());
            (*reader).nulls = pg_sys::HeapTupleHeaderGetDatum((*tuple).t_data);
            pg_sys::DecrTupleDescRefCount(desc);
            pg_sys::MemoryContextSwitchTo(old);
            (*flinfo).fn_extra = reader.cast();
        }
        let reader = (*flinfo).fn_extra as *mut RowReader;
        let event = arg_datum(fcinfo, 0);
        let position = if arg_is_null(fcinfo, 2) { 0 } else { arg_datum(fcinfo, 2).value() as i64 };
        let (context, owner) = (pg_sys::CurrentMemoryContext, pg_sys::CurrentResourceOwner);
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
        let back = move || unsafe {
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
        };
        // (The row is made in the caller's memory, which the subtransaction leaves alone.)
        let read = std::panic::AssertUnwindSafe(move || unsafe {
            Ok(pg_sys::FunctionCall2Coll(&mut (*reader).finfo, pg_sys::InvalidOid, (*reader).nulls, event))
        });
        let row = PgTryBuilder::new(read)
            .catch_others(move |e| unsafe {
                pg_sys::RollbackAndReleaseCurrentSubTransaction();
                back();
                match &e {
                    CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) if value_error(r.sql_error_code()) => {
                        Err(format!("{}: {}", sqlstate(r.sql_error_code()), r.message()))
                    }
                    _ => e.rethrow(),
                }
            })
            .execute();
        match row {
            Ok(row) => {
                pg_sys::ReleaseCurrentSubTransaction();
                back();
                row
            }
            Err(message) => {
                UNREAD.with(|u| u.borrow_mut().insert(position, message));
                return_null(fcinfo)
            }
        }
    }
}

// rollup._unread() RETURNS text (JSON): the objects rollup._read_row could not read since the last
// call, [[position, error], ...] by position; forgets them.
pg_v1_fn! {
    fn pg_rollup_unread / pg_finfo_pg_rollup_unread (_fcinfo) {
        let taken = UNREAD.with(|u| std::mem::take(&mut *u.borrow_mut()));
        let json = serde_json::Value::Array(taken.into_iter().map(|(p, m)| serde_json::json!([p, m])).collect());
        let text = std::ffi::CString::new(json.to_string()).expect("no NUL in JSON");
        pg_sys::Datum::from(pg_sys::cstring_to_text(text.as_ptr()))
    }
}
