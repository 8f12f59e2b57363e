//! `rollup.view_boundary`, which every query of a query view calls (sql/operations.sql): the
//! first coarse bucket after the start of the finer rollup's rows and after now() - fine_window.
//! The statement that computes it is built once per view shape (finer table, bucket column,
//! width, zone, origin) and kept planned for the session, so a dashboard query does not parse and
//! plan SQL to find where its rows come from.

use std::cell::RefCell;
use std::collections::HashMap;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;

use crate::pg_v1_fn;
use crate::security::SwitchedUser;

/// A view shape: the finer table's oid, its bucket column, and the raw bytes of the coarse
/// width (interval), time zone and origin (timestamp).
type Shape = (u32, Vec<u8>, Vec<u8>, Vec<u8>, i64);

/// A request: the shape, fine_window's bytes, when it is made (statement and transaction
/// start, command id) and by whom.
type Request = (Shape, Option<Vec<u8>>, i64, i64, u32, u32);

thread_local! {
    static PLANS: RefCell<HashMap<Shape, OwnedPreparedStatement>> = RefCell::new(HashMap::new());
    /// The last call and its answer: a query calls the function once to plan (estimates) and
    /// once per branch of the view, all in one statement where a STABLE function's answer may
    /// not change.
    static LAST: RefCell<Option<(Request, Option<i64>)>> = const { RefCell::new(None) };
}

/// The statement for a shape: its one parameter is fine_window (an interval, NULL for none).
fn boundary_sql(
    fine: pg_sys::Oid,
    column: &str,
    width: pg_sys::Datum,
    zone: &str,
    origin: pg_sys::Datum,
) -> String {
    Spi::get_one_with_args::<String>(
        "SELECT pg_catalog.format(
             'SELECT CASE WHEN f IS NULL THEN ''infinity''::timestamptz ELSE greatest(%s, %s) END
              FROM (SELECT CASE WHEN pg_catalog.pg_typeof(m) = ''timestamptz''::regtype THEN m::timestamptz
                                ELSE m::timestamp AT TIME ZONE ''UTC'' END AS f
                    FROM (SELECT pg_catalog.min(%I) AS m FROM %s) m) x',
             rollup_internal.bucket_ceil_sql('f', 'timestamptz', $3, $4, $5),
             rollup_internal.bucket_ceil_sql('(pg_catalog.now() - $1::interval)', 'timestamptz', $3, $4, $5),
             $2, $1::regclass)",
        &[
            fine.into(),
            column.into(),
            // SAFETY: an interval and a timestamp (view_boundary's declaration).
            unsafe { DatumWithOid::new(width, pg_sys::INTERVALOID) },
            zone.into(),
            // SAFETY: as above.
            unsafe { DatumWithOid::new(origin, pg_sys::TIMESTAMPOID) },
        ],
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| error!("pg_rollup: could not build the boundary of a query view"))
}

/// The owner of `fine` when the current user may read a query view over it: a view that reads
/// `fine`, calls rollup.view_boundary, and whose owner may read `fine` (whoever owns a view
/// can make one over any table; a view reads its tables with its owner's privileges).
fn view_reader_owner(fine: pg_sys::Oid) -> Option<pg_sys::Oid> {
    Spi::get_one_with_args::<pg_sys::Oid>(
        "SELECT c.relowner FROM pg_catalog.pg_class c
         WHERE c.oid = $1 AND EXISTS (
             SELECT FROM pg_catalog.pg_depend d
             JOIN pg_catalog.pg_rewrite w ON w.oid = d.objid
             JOIN pg_catalog.pg_class v ON v.oid = w.ev_class
             WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
               AND d.refobjid = c.oid AND v.oid <> c.oid
               AND pg_catalog.has_table_privilege(v.oid, 'SELECT')
               AND pg_catalog.has_table_privilege(v.relowner, c.oid, 'SELECT')
               AND EXISTS (SELECT FROM pg_catalog.pg_depend f JOIN pg_catalog.pg_proc p ON p.oid = f.refobjid
                           JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                           WHERE f.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND f.objid = w.oid
                             AND f.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                             AND n.nspname = 'rollup' AND p.proname = 'view_boundary'))",
        &[fine.into()],
    )
    .ok()
    .flatten()
}

/// The table's name, as PostgreSQL's own "permission denied" names it.
fn relation_name(fine: pg_sys::Oid) -> String {
    Spi::get_one_with_args::<String>(
        "SELECT relname::pg_catalog.text FROM pg_catalog.pg_class WHERE oid = $1",
        &[fine.into()],
    )
    .ok()
    .flatten()
    .unwrap_or_default()
}

pg_v1_fn! {
    /// rollup.view_boundary(fine regclass, fine_bucket name, width interval, fine_window
    /// interval, time_zone text, origin timestamp)
    fn pg_rollup_view_boundary / pg_finfo_pg_rollup_view_boundary (call) {
        for i in [0, 1, 2, 4, 5] {
            if call.is_null(i) {
                return call.return_null();
            }
        }
        let fine = pg_sys::Oid::from(call.datum(0).value() as u32);
        // SAFETY: argument 1 is a name (NameData), 2 and 3 intervals (the declaration).
        let column = unsafe { pgrx::name_data_to_str(&*(call.datum(1).cast_mut_ptr::<pg_sys::NameData>())) }.to_string();
        let interval_bytes = |d: pg_sys::Datum| {
            // SAFETY: see above.
            unsafe { std::slice::from_raw_parts(d.cast_mut_ptr::<u8>(), std::mem::size_of::<pg_sys::Interval>()) }.to_vec()
        };
        let width = call.datum(2);
        let zone = String::from_utf8_lossy(call.bytes(4)).into_owned();
        let origin = call.datum(5);
        let window = (!call.is_null(3)).then(|| call.datum(3));
        let shape: Shape = (fine.to_u32(), column.clone().into_bytes(), interval_bytes(width), zone.clone().into_bytes(), origin.value() as i64);
        // SAFETY: reads of the running transaction's state.
        let request: Request = unsafe { (
            shape.clone(),
            window.map(interval_bytes),
            pg_sys::GetCurrentStatementStartTimestamp(),
            pg_sys::GetCurrentTransactionStartTimestamp(),
            pg_sys::GetCurrentCommandId(false),
            pg_sys::GetUserId().to_u32(),
        ) };
        if let Some(answer) = LAST.with(|last| last.borrow().as_ref().filter(|(r, _)| *r == request).map(|(_, a)| *a)) {
            return match answer {
                Some(t) => pg_sys::Datum::from(t),
                None => call.return_null(),
            };
        }
        // A role that may read a query view over `fine` but not `fine` itself may still learn
        // where its rows start: it reads them through the view. The table's owner reads them.
        // SAFETY: a catalog lookup.
        let readable = unsafe { pg_sys::pg_class_aclcheck(fine, pg_sys::GetUserId(), pg_sys::ACL_SELECT as pg_sys::AclMode) }
            == pg_sys::AclResult::ACLCHECK_OK;
        let _owner = if readable {
            None
        } else {
            match view_reader_owner(fine) {
                Some(owner) => Some(SwitchedUser::to(owner, true)),
                None => {
                    ereport!(
                        ERROR,
                        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                        format!("permission denied for table {}", relation_name(fine)),
                        "rollup.view_boundary reads a rollup's target for the roles that may read it or a query view over it."
                    );
                }
            }
        };
        let result = Spi::connect(|client| {
            PLANS.with(|plans| {
                let mut plans = plans.borrow_mut();
                if !plans.contains_key(&shape) {
                    let sql = boundary_sql(fine, &column, width, &zone, origin);
                    let plan = client.prepare(sql.as_str(), &[PgOid::BuiltIn(PgBuiltInOids::INTERVALOID)])?.keep();
                    plans.insert(shape.clone(), plan);
                }
                let arg = match window {
                    // SAFETY: an interval (the declaration).
                    Some(w) => unsafe { DatumWithOid::new(w, pg_sys::INTERVALOID) },
                    None => DatumWithOid::null_oid(pg_sys::INTERVALOID),
                };
                client.select(&plans[&shape], Some(1), &[arg])?.first().get_one::<pgrx::datum::TimestampWithTimeZone>()
            })
        })
        .unwrap_or_else(|e| error!("pg_rollup: could not compute the boundary of a query view: {e}"));
        LAST.with(|last| *last.borrow_mut() = Some((request, result.map(|t| t.into_datum().unwrap().value() as i64))));
        match result {
            Some(t) => t.into_datum().unwrap(),
            None => call.return_null(),
        }
    }
}
