//! Events: per-platform uniqueness rules and bulk ingestion with dedup, written in
//! SQL (`sql/events.sql`); key expressions are checked with [`crate::sqlparse`]. Here: the
//! in-batch duplicate filter that lets ingestion insert without ON CONFLICT, and the COPY
//! loader of ingest views ([`loader`]).

use allocator_api2::vec::Vec;
use pgrx::pg_sys;
use rollup_core::keyset::KeySet;

use crate::fmgr::*;
use crate::memory::{MemCtx, PgAllocator};
use crate::pg_v1_fn;

pub mod loader;

pgrx::extension_sql_file!(
    "../sql/events.sql",
    name = "events",
    requires = ["common", sqlparse::fragment_shape]
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

/// The kinds of the call's arguments (catalog lookups: made once per call site, kept in its cache).
fn arg_kinds(call: Call, alloc: PgAllocator) -> Vec<ValueKind, PgAllocator> {
    let mut kinds = Vec::with_capacity_in(call.nargs(), alloc);
    kinds.extend((0..call.nargs()).map(|n| call.value_kind_of_arg(n)));
    kinds
}

// rollup_internal.key_fits(VARIADIC "any"): NULL when one of the values is NULL, else whether their
// bytes (as _first_of_key counts them) fit MAX_KEY_BYTES.
pg_v1_fn! {
    fn pg_rollup_key_fits / pg_finfo_pg_rollup_key_fits (call) {
        let nargs = call.nargs();
        if (0..nargs).any(|n| call.is_null(n)) {
            return call.return_null();
        }
        // SAFETY: _key_fits's cache is always this Vec, used only here.
        let kinds = unsafe { call.call_site_cache(|ctx| arg_kinds(call, ctx.allocator())) };
        let mut total = 0;
        for (n, &kind) in kinds.iter().enumerate() {
            // SAFETY: argument n is not NULL (checked above) and of the type `kind` was found for.
            unsafe { with_value_bytes(kind, call.datum(n), |bytes| total += bytes.len()) };
        }
        pg_sys::Datum::from(total <= MAX_KEY_BYTES)
    }
}

// rollup_internal.first_of_key(VARIADIC "any"): true the first time this call site of the running
// query sees these argument values, false when it has seen them before, NULL (and nothing
// remembered) when one of them is NULL or they do not fit MAX_KEY_BYTES. Values are compared by their bytes (fmgr::ValueKind),
// so two calls whose values are equal under a looser equality (numeric 1.0 and 1.00) both
// count as first, and so do all calls once the keys fill MAX_MEMORY: a filter that may let
// duplicates through, never drops a row that is not one.
pg_v1_fn! {
    fn pg_rollup_first_of_key / pg_finfo_pg_rollup_first_of_key (call) {
        let nargs = call.nargs();
        if (0..nargs).any(|n| call.is_null(n)) {
            return call.return_null();
        }
        // SAFETY: _first_of_key's cache is always a SeenKeys, used only here.
        let seen = unsafe {
            call.call_site_cache(|ctx| {
                let alloc = ctx.allocator();
                SeenKeys { kinds: arg_kinds(call, alloc), keys: KeySet::new_in(alloc), key: Vec::new_in(alloc) }
            })
        };
        seen.key.clear();
        for n in 0..nargs {
            let key = &mut seen.key;
            // SAFETY: argument n is not NULL (checked above) and of the type its kind was found for.
            unsafe {
                with_value_bytes(seen.kinds[n], call.datum(n), |bytes| {
                    key.extend_from_slice(&(bytes.len() as u32).to_ne_bytes());
                    key.extend_from_slice(bytes);
                })
            };
        }
        if !key_fits(&seen.key, nargs) {
            return call.return_null();
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

/// What rollup_internal.read_row keeps per call site: jsonb_populate_record, and a record of NULLs.
struct RowReader {
    finfo: pg_sys::FmgrInfo,
    nulls: pg_sys::Datum,
}

impl RowReader {
    /// jsonb_populate_record(<the row type's record of NULLs>, event) for the type of argument
    /// 1 (a record of NULLs reads as NULL::rowtype does, and passes as a value), in `ctx`.
    fn new(call: Call, ctx: MemCtx) -> Self {
        // SAFETY: the FmgrInfo is filled by fmgr_info_cxt before use (it holds no pointer to
        // itself, so it may move); the expression nodes, the record of NULLs and the lookup's
        // data live in `ctx` (the call site's memory), switched to and back around them; the
        // row type's descriptor is released after use.
        unsafe {
            let old = pg_sys::MemoryContextSwitchTo(ctx.raw());
            let rowtype = pg_sys::get_fn_expr_argtype((*call.raw()).flinfo, 1);
            let populate = pg_sys::Oid::from(pg_sys::F_JSONB_POPULATE_RECORD);
            let mut finfo: pg_sys::FmgrInfo = std::mem::zeroed();
            pg_sys::fmgr_info_cxt(populate, &mut finfo, ctx.raw());
            let args = pg_sys::lappend(
                pg_sys::lappend(
                    std::ptr::null_mut(),
                    pg_sys::makeNullConst(rowtype, -1, pg_sys::InvalidOid).cast(),
                ),
                pg_sys::makeNullConst(pg_sys::JSONBOID, -1, pg_sys::InvalidOid).cast(),
            );
            finfo.fn_expr = pg_sys::makeFuncExpr(
                populate,
                rowtype,
                args,
                pg_sys::InvalidOid,
                pg_sys::InvalidOid,
                pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
            )
            .cast();
            let desc = pg_sys::lookup_rowtype_tupdesc(rowtype, -1);
            let natts = (*desc).natts as usize;
            let values = vec![pg_sys::Datum::null(); natts.max(1)];
            let mut nulls = vec![true; natts.max(1)];
            let tuple =
                pg_sys::heap_form_tuple(desc, values.as_ptr() as *mut _, nulls.as_mut_ptr());
            let nulls = pg_sys::HeapTupleHeaderGetDatum((*tuple).t_data);
            pg_sys::DecrTupleDescRefCount(desc);
            pg_sys::MemoryContextSwitchTo(old);
            RowReader { finfo, nulls }
        }
    }
}

thread_local! {
    /// The objects rollup_internal.read_row could not read since rollup_internal.unread last took them: by
    /// position, the error.
    static UNREAD: std::cell::RefCell<std::collections::BTreeMap<i64, String>> = Default::default();
}

// rollup_internal.read_row(event jsonb, rowtype anyelement, pos bigint) RETURNS anyelement: `event`
// read as a row of the type of `rowtype` by PostgreSQL's own jsonb_populate_record (as
// rollup.ingest_json reads a batch), or NULL when a value does not read (a value error, see
// [`value_error`]): then the error is kept under `pos` for rollup_internal.unread. Other errors are
// raised. Each read runs in a subtransaction of its own, in which nothing is written (cheap).
pg_v1_fn! {
    fn pg_rollup_read_row / pg_finfo_pg_rollup_read_row (call) {
        use pgrx::pg_sys::panic::CaughtError;
        use pgrx::prelude::PgTryBuilder;
        if call.is_null(0) {
            return call.return_null();
        }
        // SAFETY: _read_row's cache is always a RowReader, used only here.
        let reader = unsafe { call.call_site_cache(|ctx| RowReader::new(call, ctx)) };
        let event = call.datum(0);
        let position = if call.is_null(2) { 0 } else { call.datum(2).value() as i64 };
        // SAFETY: the subtransaction is ended on both paths (released, or rolled back in the
        // catch), and the caller's memory context and resource owner put back after each.
        let (context, owner) = unsafe { (pg_sys::CurrentMemoryContext, pg_sys::CurrentResourceOwner) };
        // SAFETY: see above.
        unsafe {
            pg_sys::BeginInternalSubTransaction(std::ptr::null());
            pg_sys::MemoryContextSwitchTo(context);
        }
        // SAFETY: see above.
        let back = move || unsafe {
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
        };
        // (The row is made in the caller's memory, which the subtransaction leaves alone.)
        let finfo = std::ptr::addr_of_mut!(reader.finfo);
        let nulls = reader.nulls;
        // SAFETY: the reader's function takes (record, jsonb), which `nulls` and `event` are.
        let read = std::panic::AssertUnwindSafe(move || unsafe {
            Ok(pg_sys::FunctionCall2Coll(finfo, pg_sys::InvalidOid, nulls, event))
        });
        let row = PgTryBuilder::new(read)
            // SAFETY: see above.
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
                // SAFETY: see above.
                unsafe { pg_sys::ReleaseCurrentSubTransaction() };
                back();
                row
            }
            Err(message) => {
                UNREAD.with(|u| u.borrow_mut().insert(position, message));
                call.return_null()
            }
        }
    }
}

// rollup_internal.unread() RETURNS text (JSON): the objects rollup_internal.read_row could not read since the last
// call, [[position, error], ...] by position; forgets them.
pg_v1_fn! {
    fn pg_rollup_unread / pg_finfo_pg_rollup_unread (_call) {
        let taken = UNREAD.with(|u| std::mem::take(&mut *u.borrow_mut()));
        let json = serde_json::Value::Array(taken.into_iter().map(|(p, m)| serde_json::json!([p, m])).collect());
        text_datum(json.to_string().as_bytes())
    }
}
