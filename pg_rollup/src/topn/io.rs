//! Text (JSON), binary, bytea and jsonb conversions.

use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::topn::codec;
use rollup_core::topn::{Entry, TopNSource};
use serde::Deserialize;

use super::view;
use crate::fmgr::*;
use crate::gucs;
use crate::pg_v1_fn;

/// The text form: `{"counters": N, "total": T, "error_bound": A, "items": [[item, lower, upper], ...]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextForm {
    counters: i64,
    total: u64,
    error_bound: u64,
    items: Vec<(String, u64, u64)>,
}

fn invalid_text(detail: impl std::fmt::Display) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        "invalid input syntax for type topn",
        detail.to_string()
    );
}

/// Items are text: their bytes must be valid in the database encoding.
fn check_items_encoding(v: &codec::TopNView) {
    v.for_each_entry(|item, _, _| {
        if !valid_text(item) {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                "topn item is not valid text in the database encoding"
            );
        }
    });
}

/// Bytes from outside (binary input, bytea cast): every check, then stored as they are.
fn validated_datum(bytes: &[u8]) -> pg_sys::Datum {
    check_items_encoding(&codec::decode_checked(bytes).or_raise());
    bytes_datum(bytes)
}

pub(super) fn from_text_form(text: &str) -> Vec<u8> {
    let form: TextForm = serde_json::from_str(text).unwrap_or_else(|e| invalid_text(e));
    let mut entries: Vec<Entry> = form
        .items
        .iter()
        .map(|(item, lower, upper)| Entry {
            item: item.as_bytes(),
            lower: *lower,
            upper: *upper,
        })
        .collect();
    codec::encode_checked(form.counters, form.total, form.error_bound, &mut entries).or_raise()
}

pg_v1_fn! {
    fn pg_rollup_topn_in / pg_finfo_pg_rollup_topn_in (call) {
        let text = call.cstr(0).to_string_lossy();
        bytes_datum(&from_text_form(&text))
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_out / pg_finfo_pg_rollup_topn_out (call) {
        let v = view(call.bytes(0));
        let items: Vec<serde_json::Value> = v
            .entries()
            .iter()
            .map(|e| serde_json::json!([String::from_utf8_lossy(e.item), e.lower, e.upper]))
            .collect();
        let form = serde_json::json!({
            "counters": v.counters(), "total": v.total(), "error_bound": v.absent(), "items": items
        });
        datum_cstring(&form.to_string())
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_recv / pg_finfo_pg_rollup_topn_recv (call) {
        validated_datum(call.recv_bytes())
    }
}

pg_v1_fn! {
    fn pg_rollup_topn_from_bytea / pg_finfo_pg_rollup_topn_from_bytea (call) {
        validated_datum(call.bytes(0))
    }
}

/// A sketch from JSON text: the text form above, or postgresql-topn's `{"item": count}` map.
/// A map's counts become lower bounds; a full map (at least `counters` items) may have dropped
/// items with counts up to its smallest one, which becomes the error bound.
pub(super) fn from_json(text: &str, counters: i64) -> Vec<u8> {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| invalid_text(e));
    let Some(map) = value.as_object() else {
        invalid_text("expected a JSON object")
    };
    if map.contains_key("items") && map.contains_key("counters") {
        return from_text_form(text);
    }
    let mut counts: Vec<(&str, u64)> = map
        .iter()
        .map(|(k, v)| match v.as_u64() {
            Some(c) => (k.as_str(), c),
            None => invalid_text(format!(
                "the count of \"{k}\" is not a non-negative integer"
            )),
        })
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let keep = usize::try_from(rollup_core::topn::check_counters(counters).or_raise())
        .unwrap_or(usize::MAX);
    let total = counts.iter().fold(0u64, |t, c| t.saturating_add(c.1));
    let absent = if counts.len() >= keep {
        counts[keep - 1].1
    } else {
        0
    };
    counts.truncate(keep);
    let mut entries: Vec<Entry> = counts
        .iter()
        .map(|(item, c)| Entry {
            item: item.as_bytes(),
            lower: *c,
            upper: c.saturating_add(absent),
        })
        .collect();
    codec::encode_checked(counters, total, absent, &mut entries).or_raise()
}

/// The text of jsonb argument `n` (not NULL).
pub(super) fn jsonb_text(call: Call, n: usize) -> String {
    // SAFETY: argument n is a jsonb (the declaration), which jsonb_out turns into a C string.
    unsafe {
        let text =
            pgrx::fcinfo::direct_function_call_as_datum(pg_sys::jsonb_out, &[Some(call.datum(n))])
                .expect("jsonb_out returned NULL");
        std::ffi::CStr::from_ptr(text.cast_mut_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

pg_v1_fn! {
    /// topn(jsonb): the jsonb cast, with topn.number_of_counters counters.
    fn pg_rollup_topn_from_jsonb / pg_finfo_pg_rollup_topn_from_jsonb (call) {
        bytes_datum(&from_json(&jsonb_text(call, 0), default_counters()))
    }
}

pg_v1_fn! {
    /// postgresql-topn's form: `{"item": frequency, ...}` for the stored items, the frequency
    /// being the weight seen (the lower bound), which is what postgresql-topn counts.
    fn pg_rollup_topn_to_json_text / pg_finfo_pg_rollup_topn_to_json_text (call) {
        let v = view(call.bytes(0));
        let map: serde_json::Map<String, serde_json::Value> =
            v.entries().iter().map(|e| (String::from_utf8_lossy(e.item).into_owned(), e.lower.into())).collect();
        let text = serde_json::Value::Object(map).to_string();
        new_varlena(text.len(), |out| out.copy_from_slice(text.as_bytes()))
    }
}

/// The counters topn_add_agg(item) and jsonb conversions use.
pub(super) fn default_counters() -> i64 {
    gucs::topn_counters()
}
