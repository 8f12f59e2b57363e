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
        if seen.key.len() - 4 * nargs > MAX_KEY_BYTES {
            return return_null(fcinfo);
        }
        if seen.keys.memory() > MAX_MEMORY {
            return pg_sys::Datum::from(true);
        }
        pg_sys::Datum::from(seen.keys.insert(&seen.key))
    }
}
