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
use serde::Serialize;
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

/// The tag of a parse tree node (T_Invalid for NULL).
///
/// # Safety
/// `node` is NULL or a node of a parse tree.
unsafe fn node_tag(node: *const pg_sys::Node) -> pg_sys::NodeTag {
    if node.is_null() {
        pg_sys::NodeTag::T_Invalid
    } else {
        // SAFETY: a non-NULL node of the parser's tree (the caller's promise).
        unsafe { (*node).type_ }
    }
}

/// The characters of a String node (None for any other node).
///
/// # Safety
/// `node` is NULL or a node of a parse tree.
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

pgrx::extension_sql!(
    r#"
-- The shape of one select-list fragment (rollup_internal.parse_fragment).
CREATE TYPE rollup_internal.fragment AS (
    name text,          -- output name (AS name, or a column's name), NULL when it has none
    kind text,          -- column, call or expression
    func text,          -- a call's function name (unqualified, lower case)
    func_schema text,   -- its schema when qualified
    star boolean,       -- f(*)
    is_distinct boolean, -- f(DISTINCT ..)
    has_filter boolean, -- FILTER (WHERE ..)
    is_window boolean,  -- OVER (..)
    within_group boolean, -- WITHIN GROUP (..)
    nargs integer       -- the number of arguments
);
"#,
    name = "fragment_type",
    requires = [rollup::version]
);

/// The shape of one select-list fragment.
#[derive(Default, Serialize)]
struct Fragment {
    /// Its output name (AS name, or a column's name).
    name: Option<String>,
    /// column, call or expression.
    kind: &'static str,
    #[serde(flatten)]
    call: Option<Call>,
    /// The column it reads when it is a bare column reference, or a call of exactly one bare
    /// column (no `*`, DISTINCT, FILTER, ORDER BY, OVER, WITHIN GROUP or VARIADIC).
    #[serde(skip)]
    column: Option<String>,
}

/// What a call says: its function (unqualified, lower case) and schema when qualified, f(*),
/// f(DISTINCT ..), FILTER, OVER, WITHIN GROUP, and its number of arguments.
#[derive(Serialize)]
struct Call {
    func: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<String>,
    star: bool,
    distinct: bool,
    filter: bool,
    window: bool,
    within_group: bool,
    nargs: i32,
}

/// Sets a field of a `rollup_internal.fragment`.
fn set<T: IntoDatum>(t: &mut PgHeapTuple<'static, AllocatedByRust>, field: &str, value: T) {
    t.set_by_name(field, value)
        .unwrap_or_else(|e| error!("pg_rollup: rollup_internal.fragment.{field}: {e}"));
}

/// The shape of one select-list fragment, as a `rollup_internal.fragment`; `what` names the fragment
/// in error messages ("measure", "dimension", "key").
#[pg_extern(
    schema = "rollup_internal",
    name = "parse_fragment",
    volatile,
    parallel_safe,
    requires = ["fragment_type"]
)]
fn fragment_shape(
    fragment: &str,
    what: &str,
) -> pgrx::composite_type!('static, "rollup_internal.fragment") {
    let f = parse(fragment, what);
    let mut out = PgHeapTuple::new_composite_type("rollup_internal.fragment")
        .unwrap_or_else(|e| error!("pg_rollup: type rollup_internal.fragment: {e}"));
    set(&mut out, "kind", f.kind);
    if let Some(name) = f.name {
        set(&mut out, "name", name);
    }
    if let Some(c) = f.call {
        set(&mut out, "func", c.func);
        if let Some(schema) = c.schema {
            set(&mut out, "func_schema", schema);
        }
        set(&mut out, "star", c.star);
        set(&mut out, "is_distinct", c.distinct);
        set(&mut out, "has_filter", c.filter);
        set(&mut out, "is_window", c.window);
        set(&mut out, "within_group", c.within_group);
        set(&mut out, "nargs", c.nargs);
    }
    out
}

/// The column that a fragment reads as a whole: `col [AS x]` or `f(col) [AS x]` (see
/// `Fragment::column`); NULL for any other fragment. Query views read a finer rollup's rows as
/// they are when every level measure is such a merge of one of its columns.
#[pg_extern(schema = "rollup_internal", immutable, parallel_safe)]
fn fragment_column(fragment: &str) -> Option<String> {
    parse(fragment, "fragment").column
}

/// `rollup._parse_fragment` as releases before 0.7.0 declare it (jsonb, under this C symbol):
/// their install scripts run against this library before ALTER EXTENSION UPDATE replaces it.
#[pg_extern(sql = false)]
fn parse_fragment(fragment: &str, what: &str) -> JsonB {
    JsonB(serde_json::to_value(parse(fragment, what)).expect("a fragment serializes"))
}

/// Parses a fragment, or refuses it (42601).
fn parse(fragment: &str, what: &str) -> Fragment {
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
        let mut out = Fragment {
            kind: "expression",
            ..Fragment::default()
        };
        match node_tag(val) {
            pg_sys::NodeTag::T_ColumnRef => {
                let fields =
                    PgList::<pg_sys::Node>::from_pg((*(val as *mut pg_sys::ColumnRef)).fields);
                let last = fields.get_ptr(fields.len() - 1).and_then(|n| str_value(n));
                if last.is_none() {
                    refuse(what, fragment, "a bare * is not allowed");
                }
                out.kind = "column";
                out.column = last.clone();
                name = name.or(last);
            }
            pg_sys::NodeTag::T_FuncCall => {
                let call = &*(val as *mut pg_sys::FuncCall);
                let parts: Vec<String> = PgList::<pg_sys::Node>::from_pg(call.funcname)
                    .iter_ptr()
                    .filter_map(|n| str_value(n))
                    .collect();
                out.kind = "call";
                let args = PgList::<pg_sys::Node>::from_pg(call.args);
                let plain_call = args.len() == 1
                    && !call.agg_star
                    && !call.agg_distinct
                    && call.agg_filter.is_null()
                    && call.over.is_null()
                    && !call.agg_within_group
                    && call.agg_order.is_null()
                    && !call.func_variadic;
                if let Some(arg) = args
                    .get_ptr(0)
                    .filter(|a| plain_call && node_tag(*a) == pg_sys::NodeTag::T_ColumnRef)
                {
                    let fields =
                        PgList::<pg_sys::Node>::from_pg((*(arg as *mut pg_sys::ColumnRef)).fields);
                    out.column = fields.get_ptr(fields.len() - 1).and_then(|n| str_value(n));
                }
                out.call = Some(Call {
                    func: parts.last().cloned().unwrap_or_default(),
                    schema: (parts.len() > 1).then(|| parts[parts.len() - 2].clone()),
                    star: call.agg_star,
                    distinct: call.agg_distinct,
                    filter: !call.agg_filter.is_null(),
                    window: !call.over.is_null(),
                    within_group: call.agg_within_group,
                    nargs: PgList::<pg_sys::Node>::from_pg(call.args).len() as i32,
                });
            }
            _ => {}
        }
        out.name = name;
        out
    }
}
