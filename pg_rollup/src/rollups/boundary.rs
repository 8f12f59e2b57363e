//! `rollup.view_boundary`, which every query of a query view calls (sql/operations.sql): the
//! first coarse bucket after the start of the finer rollup's rows and after now() - fine_window.
//! A dashboard query should not pay for parsing, planning and running SQL to find where its rows
//! come from, so:
//! - the start of the finer rows is read from the first entry of a btree index on the bucket
//!   column (the one `create_rollup` makes), with the query's snapshot, in microseconds (without
//!   such an index, with row security on the table, or with Citus, whose distributed tables keep
//!   their rows on the workers, a `min()` statement planned once per session does it);
//! - the coarse buckets' arithmetic (calendar, time zone) runs in a statement planned once per
//!   view shape, and its answers are kept: the bucket after the rows' start as long as the start
//!   is the same, the bucket after now() - fine_window as long as now() - fine_window has not
//!   passed it (both only move forward with it).

use std::cell::RefCell;
use std::collections::HashMap;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;

use crate::compat::tupdesc;
use crate::pg_v1_fn;
use crate::security::SwitchedUser;

/// A view shape: the finer table's oid, its bucket column, and the raw bytes of the coarse
/// width (interval), time zone and origin (timestamp).
type Shape = (u32, Vec<u8>, Vec<u8>, Vec<u8>, i64);

/// A request: the shape, fine_window's bytes, when it is made (statement and transaction
/// start, command id) and by whom.
type Request = (Shape, Option<Vec<u8>>, i64, i64, u32, u32);

/// A shape and fine_window's bytes.
type Window = (Shape, Option<Vec<u8>>);

/// The statements of a shape: the coarse buckets after $2 and after now() - $1 (and the latter
/// time), and the start of the finer rows when no index gives it.
struct Plans {
    ceilings: OwnedPreparedStatement,
    first: OwnedPreparedStatement,
}

/// What the arithmetic answered for a shape and fine_window: `after_first`, the first coarse
/// bucket at or after `first`; `after_window`, the first at or after `since` (now() - fine_window
/// when it ran), which stays the answer while now() - fine_window is between `since` and it.
struct Ceilings {
    first: i64,
    after_first: i64,
    window: Option<(i64, i64)>,
}

impl Ceilings {
    /// The boundary for finer rows that start at `first` when now() - fine_window is `now`
    /// (None without fine_window), if these answers hold for them.
    fn boundary(&self, first: i64, now: Option<i64>) -> Option<i64> {
        let holds = self.first == first
            && match (now, self.window) {
                (None, _) => true,
                (Some(now), Some((since, after))) => since <= now && now <= after,
                (Some(_), None) => false,
            };
        holds.then(|| self.value())
    }

    /// The later of the two buckets.
    fn value(&self) -> i64 {
        self.window
            .map_or(self.after_first, |(_, after)| self.after_first.max(after))
    }
}

thread_local! {
    static PLANS: RefCell<HashMap<Shape, Plans>> = RefCell::new(HashMap::new());
    static CEILINGS: RefCell<HashMap<Window, Ceilings>> = RefCell::new(HashMap::new());
    /// The last call and its answer: a query calls the function once to plan (estimates) and
    /// once per branch of the view, all in one statement where a STABLE function's answer may
    /// not change.
    static LAST: RefCell<Option<(Request, i64)>> = const { RefCell::new(None) };
}

/// The statements of a shape ($1 fine_window, an interval or NULL; $2 a timestamptz).
fn shape_sql(
    fine: pg_sys::Oid,
    column: &str,
    width: pg_sys::Datum,
    zone: &str,
    origin: pg_sys::Datum,
) -> (String, String) {
    let row = Spi::get_two_with_args::<String, String>(
        "SELECT pg_catalog.format('SELECT %s, %s, pg_catalog.now() - $1::interval',
                    rollup_internal.bucket_ceil_sql('$2::timestamptz', 'timestamptz', $3, $4, $5),
                    rollup_internal.bucket_ceil_sql('(pg_catalog.now() - $1::interval)', 'timestamptz', $3, $4, $5)),
                pg_catalog.format(
                    'SELECT CASE WHEN pg_catalog.pg_typeof(m) = ''timestamptz''::regtype THEN m::timestamptz
                                 ELSE m::timestamp AT TIME ZONE ''UTC'' END
                     FROM (SELECT pg_catalog.min(%I) AS m FROM %s) m', $2, $1::regclass)",
        &[
            fine.into(),
            column.into(),
            // SAFETY: an interval and a timestamp (view_boundary's declaration).
            unsafe { DatumWithOid::new(width, pg_sys::INTERVALOID) },
            zone.into(),
            // SAFETY: as above.
            unsafe { DatumWithOid::new(origin, pg_sys::TIMESTAMPOID) },
        ],
    );
    match row {
        Ok((Some(ceilings), Some(first))) => (ceilings, first),
        _ => error!("pg_rollup: could not build the boundary of a query view"),
    }
}

/// The first value of `fine`'s bucket column (a timestamp or timestamptz, as microseconds),
/// read from the first entries of a valid btree index that starts with it, with the query's
/// snapshot; `Some(None)` when the table has no rows. None when no such index serves it, when
/// the table has row security (the first row the role may see is not the first entry) or
/// inheritance children, or when Citus is installed (a distributed table's rows are on the
/// workers, not in its local table).
fn first_bucket_from_index(fine: pg_sys::Oid, column: &str) -> Option<Option<i64>> {
    let column = std::ffi::CString::new(column).ok()?;
    // SAFETY: catalog and index reads of a table the caller may read (checked before), opened
    // and closed here with AccessShareLock (which the query reading the view holds already);
    // the tuples are read while the scan is open.
    unsafe {
        if pg_sys::get_extension_oid(c"citus".as_ptr(), true) != pg_sys::InvalidOid {
            return None;
        }
        let attnum = pg_sys::get_attnum(fine, column.as_ptr());
        if attnum <= 0 {
            return None;
        }
        let rel = pg_sys::table_open(fine, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let desc = (*rel).rd_att;
        let att_type = tupdesc::attr(desc, attnum as usize - 1).atttypid;
        let mut answer = None;
        let form = &*(*rel).rd_rel;
        // A plain table whose rows are its own (no inheritance children, whose rows min() reads too).
        if form.relkind as u8 == pg_sys::RELKIND_RELATION
            && !form.relhassubclass
            && !form.relrowsecurity
            && (att_type == pg_sys::TIMESTAMPTZOID || att_type == pg_sys::TIMESTAMPOID)
        {
            let indexes = pgrx::PgList::<pg_sys::Oid>::from_pg(pg_sys::RelationGetIndexList(rel));
            for index_oid in indexes.iter_oid() {
                let index =
                    pg_sys::index_open(index_oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
                let form = (*index).rd_index;
                let usable = (*(*index).rd_rel).relam == pg_sys::BTREE_AM_OID
                    && (*form).indisvalid
                    && (*form).indisready
                    && (*form).indkey.values.as_slice(1)[0] == attnum
                    && *(*index).rd_indoption & pg_sys::INDOPTION_DESC as i16 == 0
                    && pg_sys::RelationGetIndexPredicate(index).is_null();
                if usable {
                    let snapshot = if pg_sys::ActiveSnapshotSet() {
                        pg_sys::GetActiveSnapshot()
                    } else {
                        pg_sys::GetTransactionSnapshot()
                    };
                    let scan = pg_sys::systable_beginscan_ordered(
                        rel,
                        index,
                        snapshot,
                        0,
                        std::ptr::null_mut(),
                    );
                    let mut first = None;
                    loop {
                        let tuple = pg_sys::systable_getnext_ordered(
                            scan,
                            pg_sys::ScanDirection::ForwardScanDirection,
                        );
                        if tuple.is_null() {
                            break;
                        }
                        let mut is_null = false;
                        let value = pg_sys::heap_getattr(tuple, attnum as i32, desc, &mut is_null);
                        if !is_null {
                            first = Some(value.value() as i64);
                            break;
                        }
                    }
                    pg_sys::systable_endscan_ordered(scan);
                    answer = Some(first);
                }
                pg_sys::index_close(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
                if answer.is_some() {
                    break;
                }
            }
        }
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        answer
    }
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
            return pg_sys::Datum::from(answer);
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
        // now() - fine_window, as the statement computes it
        // SAFETY: a timestamptz and an interval.
        let since = window.map(|w| unsafe {
            pgrx::fcinfo::direct_function_call_as_datum(
                pg_sys::timestamptz_mi_interval,
                &[Some(pg_sys::Datum::from(pg_sys::GetCurrentTransactionStartTimestamp())), Some(w)],
            )
            .unwrap()
            .value() as i64
        });
        let key: Window = (shape.clone(), request.1.clone());
        let kept = |first: i64| CEILINGS.with(|c| c.borrow().get(&key).and_then(|c| c.boundary(first, since)));
        // No statement to run when the index gives the start and the arithmetic for it is kept.
        let first = first_bucket_from_index(fine, &column);
        let result = match first {
            Some(None) => Some(i64::MAX), // no finer rows: infinity, every row from the level
            Some(Some(first)) => kept(first),
            None => None,
        };
        let window_arg = || match window {
            // SAFETY: an interval (the declaration).
            Some(w) => unsafe { DatumWithOid::new(w, pg_sys::INTERVALOID) },
            None => DatumWithOid::null_oid(pg_sys::INTERVALOID),
        };
        let micros = |t: pgrx::datum::TimestampWithTimeZone| t.into_datum().unwrap().value() as i64;
        let result = result.unwrap_or_else(|| {
            Spi::connect(|client| {
                PLANS.with(|plans| {
                    let mut plans = plans.borrow_mut();
                    if !plans.contains_key(&shape) {
                        let (ceilings, first) = shape_sql(fine, &column, width, &zone, origin);
                        let ceilings = client
                            .prepare(ceilings.as_str(), &[PgOid::BuiltIn(PgBuiltInOids::INTERVALOID), PgOid::BuiltIn(PgBuiltInOids::TIMESTAMPTZOID)])?
                            .keep();
                        let first = client.prepare(first.as_str(), &[])?.keep();
                        plans.insert(shape.clone(), Plans { ceilings, first });
                    }
                    let plans = &plans[&shape];
                    let first = match first {
                        Some(first) => first,
                        None => client.select(&plans.first, Some(1), &[])?.first().get_one::<pgrx::datum::TimestampWithTimeZone>()?.map(micros),
                    };
                    let Some(first) = first else {
                        return Ok(i64::MAX);
                    };
                    if let Some(boundary) = kept(first) {
                        return Ok(boundary);
                    }
                    // SAFETY: a timestamptz.
                    let first_arg = unsafe { DatumWithOid::new(pg_sys::Datum::from(first), pg_sys::TIMESTAMPTZOID) };
                    let row = client.select(&plans.ceilings, Some(1), &[window_arg(), first_arg])?.first();
                    let after_first = row.get::<pgrx::datum::TimestampWithTimeZone>(1)?.map(micros).unwrap_or(i64::MAX);
                    let after_window = row.get::<pgrx::datum::TimestampWithTimeZone>(2)?.map(micros);
                    let ran_at = row.get::<pgrx::datum::TimestampWithTimeZone>(3)?.map(micros);
                    let ceilings = Ceilings { first, after_first, window: ran_at.zip(after_window) };
                    let boundary = ceilings.value();
                    CEILINGS.with(|c| c.borrow_mut().insert(key.clone(), ceilings));
                    Ok::<i64, pgrx::spi::SpiError>(boundary)
                })
            })
            .unwrap_or_else(|e| error!("pg_rollup: could not compute the boundary of a query view: {e}"))
        });
        LAST.with(|last| *last.borrow_mut() = Some((request, result)));
        pg_sys::Datum::from(result)
    }
}
