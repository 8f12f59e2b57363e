//! Validation of the SQL fragments users pass to pg_rollup (rollup dimensions and measures,
//! uniqueness-rule keys) with PostgreSQL's own raw parser.
//!
//! A fragment is accepted only when `SELECT\n<fragment>\n` parses as exactly one plain
//! SELECT with exactly one target and nothing else (no FROM, WHERE, set operation, INTO,
//! locking clause, second statement...). Generated SQL then embeds the fragment the same
//! way, between newlines, so it can only ever be that one expression: a trailing `--`
//! comment ends at the newline and anything that would break out of the expression has
//! already been refused here.

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{JsonB, PgList};
use serde_json::json;
use std::ffi::{CStr, CString};

use crate::compat::nodes;

fn refuse(what: &str, fragment: &str, why: &str) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
        format!("invalid {what}: {why}"),
        format!("The {what} was: {fragment}")
    );
}

unsafe fn node_tag(node: *const pg_sys::Node) -> pg_sys::NodeTag {
    if node.is_null() {
        pg_sys::NodeTag::T_Invalid
    } else {
        // SAFETY: a non-NULL node of the parser's tree (the caller's promise).
        unsafe { (*node).type_ }
    }
}

unsafe fn str_value(node: *mut pg_sys::Node) -> Option<String> {
    // SAFETY: as `node_tag`; a String node holds a C string.
    unsafe {
        if node_tag(node) != pg_sys::NodeTag::T_String {
            return None;
        }
        Some(
            CStr::from_ptr(nodes::string_chars(node))
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// The parsed shape of one select-list fragment, as jsonb:
/// `{"name": output name or null, "kind": "column" | "call" | "expression",
///   "func": function name (unqualified, lower case), "schema": its schema if
///   qualified, "star": f(*), "distinct": f(DISTINCT ..), "filter": has FILTER,
///   "window": has OVER, "within_group": has WITHIN GROUP, "nargs": argument count}`.
/// `what` names the fragment in error messages ("measure", "dimension", "key").
#[pg_extern(schema = "rollup", name = "_parse_fragment", volatile, parallel_safe)]
fn parse_fragment(fragment: &str, what: &str) -> JsonB {
    if fragment.trim().is_empty() {
        refuse(what, fragment, "it is empty");
    }
    if fragment.contains('\0') {
        refuse(what, fragment, "it contains a NUL character");
    }
    let sql = CString::new(format!("SELECT\n{fragment}\n")).expect("checked for NUL above");
    // SAFETY: raw_parser takes the NUL-terminated SQL and returns a list of RawStmt; each node below is read as the type its tag says.
    unsafe {
        let stmts = PgList::<pg_sys::RawStmt>::from_pg(pg_sys::raw_parser(
            sql.as_ptr(),
            pg_sys::RawParseMode::RAW_PARSE_DEFAULT,
        ));
        if stmts.len() != 1 {
            refuse(what, fragment, "it is not a single expression");
        }
        let raw = stmts.get_ptr(0).expect("length checked");
        if node_tag((*raw).stmt) != pg_sys::NodeTag::T_SelectStmt {
            refuse(what, fragment, "it is not an expression");
        }
        let select = &*((*raw).stmt as *const pg_sys::SelectStmt);
        let only_targets = select.distinctClause.is_null()
            && select.intoClause.is_null()
            && select.fromClause.is_null()
            && select.whereClause.is_null()
            && select.groupClause.is_null()
            && select.havingClause.is_null()
            && select.windowClause.is_null()
            && select.valuesLists.is_null()
            && select.sortClause.is_null()
            && select.limitOffset.is_null()
            && select.limitCount.is_null()
            && select.lockingClause.is_null()
            && select.withClause.is_null()
            && select.op == pg_sys::SetOperation::SETOP_NONE;
        let targets = PgList::<pg_sys::ResTarget>::from_pg(select.targetList);
        if !only_targets || targets.len() != 1 {
            refuse(
                what,
                fragment,
                "it must be exactly one expression, optionally followed by AS name",
            );
        }
        let target = &*targets.get_ptr(0).expect("length checked");
        let val = target.val;
        let mut name = (!target.name.is_null())
            .then(|| CStr::from_ptr(target.name).to_string_lossy().into_owned());
        let mut out = json!({ "kind": "expression" });
        match node_tag(val) {
            pg_sys::NodeTag::T_ColumnRef => {
                let fields =
                    PgList::<pg_sys::Node>::from_pg((*(val as *mut pg_sys::ColumnRef)).fields);
                let last = fields.get_ptr(fields.len() - 1).and_then(|n| str_value(n));
                if last.is_none() {
                    refuse(what, fragment, "a bare * is not allowed");
                }
                out["kind"] = json!("column");
                name = name.or(last);
            }
            pg_sys::NodeTag::T_FuncCall => {
                let call = &*(val as *mut pg_sys::FuncCall);
                let parts: Vec<String> = PgList::<pg_sys::Node>::from_pg(call.funcname)
                    .iter_ptr()
                    .filter_map(|n| str_value(n))
                    .collect();
                let func = parts.last().cloned().unwrap_or_default();
                out["kind"] = json!("call");
                out["func"] = json!(func);
                if parts.len() > 1 {
                    out["schema"] = json!(parts[parts.len() - 2]);
                }
                out["star"] = json!(call.agg_star);
                out["distinct"] = json!(call.agg_distinct);
                out["filter"] = json!(!call.agg_filter.is_null());
                out["window"] = json!(!call.over.is_null());
                out["within_group"] = json!(call.agg_within_group);
                out["nargs"] = json!(PgList::<pg_sys::Node>::from_pg(call.args).len());
            }
            _ => {}
        }
        out["name"] = json!(name);
        JsonB(out)
    }
}
