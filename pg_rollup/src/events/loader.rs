//! `COPY <ingest view> FROM ...`: bulk ingestion straight from COPY data, without a staging
//! table.
//!
//! `rollup.create_ingest_view` makes a view whose INSTEAD OF INSERT trigger sends every row
//! through `rollup.ingest_json`: correct for any events table, and slow. This module's
//! ProcessUtility hook takes over a `COPY` into such a view when the events table is a plain
//! table without triggers, row-level security, stored generated columns, exclusion or deferred
//! constraints, and not a Citus table (what `rollup_internal.ingest_view_target` calls direct): it
//! parses the COPY data with PostgreSQL's own COPY reader into the events table's columns (its
//! defaults included) and stores the rows itself:
//!
//! - Each row's entry in every index of the table is computed once, by the index's own
//!   expressions and predicate. The first uniqueness rule whose index the row belongs to
//!   decides: a NULL key rejects the row (an error, or a row for the rejects table), a key
//!   seen earlier in the COPY makes it a duplicate ([`KeySet`] of the key bytes).
//! - Rows are stored in spans of [`SPAN`] rows, each in a subtransaction, a batch of
//!   [`BATCH`] rows at a time: one multi-row insert, then the batch's index entries with
//!   plain unique checks (which wait for a concurrent writer of the same key). A stored row
//!   with the same key (a unique violation) rolls the span back; the span is stored again,
//!   each row first looked up in every unique index as `ON CONFLICT DO NOTHING` does and left
//!   out when it is there, and so are the spans after it while they meet stored rows.

use std::ptr::null_mut;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::pg_sys::panic::{CaughtError, ErrorReport};
use pgrx::prelude::*;
use rollup_core::keyset::{key_hash, KeySet};
use rollup_core::prefetch;

use crate::compat::{copy_permissions, indexes, tupdesc};
use crate::events::{key_fits, sqlstate, value_error};
use crate::fmgr::{guarded, value_kind_of_type, varlena_bytes, with_value_bytes, ValueKind};
use crate::memory::MemCtx;

/// Rows per subtransaction ("span"): the rows a stored duplicate makes insert again. A COPY of
/// up to 3.2M rows stays within the 64 subtransactions past which other sessions' snapshots
/// get slower while it runs.
const SPAN: usize = 50_000;
/// Rows per multi-row insert: few enough that the rows and their index entries stay in cache.
const BATCH: usize = 500;
/// Attempts at a span before a unique violation is raised: each attempt after the first checks
/// every row against what is stored, so only rows committed by others in between make it fail.
const ATTEMPTS: usize = 5;

static mut PREVIOUS: pg_sys::ProcessUtility_hook_type = None;

// Called directly, without pgrx's guard.
unsafe extern "C-unwind" {
    /// COPY's error context callback, called by PostgreSQL's error machinery itself.
    #[link_name = "CopyFromErrorCallback"]
    fn copy_from_error_callback(arg: *mut std::ffi::c_void);
    #[link_name = "MemoryContextReset"]
    fn memory_context_reset(context: pg_sys::MemoryContext);
    #[link_name = "ExecStoreVirtualTuple"]
    fn exec_store_virtual_tuple(slot: *mut pg_sys::TupleTableSlot) -> *mut pg_sys::TupleTableSlot;
    #[link_name = "standard_ProcessUtility"]
    #[allow(clippy::too_many_arguments)]
    fn standard_process_utility(
        pstmt: *mut pg_sys::PlannedStmt,
        query_string: *const std::ffi::c_char,
        read_only_tree: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        query_env: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        qc: *mut pg_sys::QueryCompletion,
    );
}

pub fn register() {
    // SAFETY: _PG_init runs once per process, before any statement.
    unsafe {
        PREVIOUS = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

/// Not behind pgrx's guard: other utility statements pass through this frame, which holds
/// nothing to drop, and their errors reach PostgreSQL as raised (with their CONTEXT lines,
/// which pgrx's guard would drop). The COPY that the loader takes over runs guarded.
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: PostgreSQL passes a valid utility statement and the arguments the next hook (or
    // standard_ProcessUtility) takes as they are; a COPY's node is a CopyStmt.
    unsafe {
        let stmt = (*pstmt).utilityStmt;
        if !stmt.is_null() && (*stmt).type_ == pg_sys::NodeTag::T_CopyStmt {
            let copy = stmt as *mut pg_sys::CopyStmt;
            let taken = guarded(|| match direct_target(copy) {
                Some(target) => {
                    let inserted = Loader::run(copy, query_string, &target);
                    if !qc.is_null() {
                        pg_sys::SetQueryCompletion(qc, pg_sys::CommandTag::CMDTAG_COPY, inserted);
                    }
                    true
                }
                None => false,
            });
            if taken {
                return;
            }
        }
        match PREVIOUS {
            Some(previous) => previous(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            ),
            None => standard_process_utility(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            ),
        }
    }
}

struct Target {
    view: pg_sys::Oid,
    events: pg_sys::Oid,
    /// The rejects table, schema-qualified and quoted.
    rejects: Option<String>,
}

/// The events table behind a `COPY <view> FROM` that the loader takes over.
///
/// # Safety
/// `copy` is the statement being run.
unsafe fn direct_target(copy: *mut pg_sys::CopyStmt) -> Option<Target> {
    // SAFETY: a valid CopyStmt (the caller's promise); catalog lookups of a relation by name
    // and oid, locked as COPY locks it.
    let view = unsafe {
        if !(*copy).is_from || (*copy).relation.is_null() || !(*copy).whereClause.is_null() {
            return None;
        }
        let view = pg_sys::RangeVarGetRelidExtended(
            (*copy).relation,
            pg_sys::RowExclusiveLock as pg_sys::LOCKMODE,
            pg_sys::RVROption::RVR_MISSING_OK,
            None,
            null_mut(),
        );
        // A COPY into a table (nearly all of them) stops at the relkind, from the syscache; only
        // a view costs the catalog lookups below.
        if view == pg_sys::InvalidOid
            || pg_sys::get_rel_relkind(view) as u8 != pg_sys::RELKIND_VIEW
            || pg_sys::get_extension_oid(c"pg_rollup".as_ptr(), true) == pg_sys::InvalidOid
        {
            return None;
        }
        view
    };
    let found = Spi::get_three_with_args::<pg_sys::Oid, String, bool>(
        "SELECT events_table::oid, rejects_table, direct FROM rollup_internal.ingest_view_target($1::pg_catalog.regclass)",
        &[view.into()],
    );
    match found {
        Ok((Some(events), rejects, Some(true))) => Some(Target {
            view,
            events,
            rejects,
        }),
        _ => None,
    }
}

/// One index of the events table, and the entries that the rows of the span add to it.
struct Index {
    rel: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    predicate: *mut pg_sys::ExprState,
    /// When the predicate is `<text column> = '<value>'` (a rule's) under a deterministic
    /// collation: the column and the value's bytes, compared without evaluating it.
    platform: Option<(usize, Vec<u8>)>,
    check: pg_sys::IndexUniqueCheck::Type,
    /// Per index column: how its values are compared and copied.
    attrs: Vec<(ValueKind, bool, i16)>,
    /// The uniqueness rule the index enforces: the keys seen so far, and why a row is rejected
    /// when its key is missing, or too large.
    rule: Option<(KeySet, String, String)>,
    /// Per entry, the row (slot); its values (copied into the span's memory) are in `values`
    /// and `nulls`, `attrs.len()` per entry. Rows come in order, so a batch's entries follow
    /// those of the batches before it; `done` entries are in the index.
    rows: Vec<usize>,
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
    done: usize,
}

enum Verdict {
    Keep,
    /// The key (in `Loader::key`, with this hash) decides, in the set of the rule of this index
    /// (position in `Loader::indexes`): a duplicate when it is there.
    Check(usize, u64),
    /// Why, and the error it is without a rejects table.
    Reject(String, PgSqlErrorCode),
}

/// An error of one row's own, caught while reading it.
struct RowError {
    code: PgSqlErrorCode,
    message: String,
    /// Whether the row's values were read (the error came from a constraint).
    parsed: bool,
}

/// Whether the COPY's first line is a header (HEADER true or MATCH).
///
/// # Safety
/// `copy` is the statement being run.
unsafe fn copy_has_header(copy: *mut pg_sys::CopyStmt) -> bool {
    // SAFETY: a valid CopyStmt, whose options are a list of DefElems with C string names.
    unsafe {
        let options = (*copy).options;
        (0..if options.is_null() {
            0
        } else {
            (*options).length
        })
            .any(|i| {
                let def = (*(*options).elements.add(i as usize)).ptr_value as *mut pg_sys::DefElem;
                std::ffi::CStr::from_ptr((*def).defname) == c"header"
                    && ((*def).arg.is_null()
                        || !matches!(
                            std::ffi::CStr::from_ptr(pg_sys::defGetString(def))
                                .to_string_lossy()
                                .to_lowercase()
                                .as_str(),
                            "false" | "off" | "0"
                        ))
            })
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Plain unique checks: a stored duplicate rolls the span back.
    Optimistic,
    /// Rows already stored are left out first.
    Checked,
    /// The last attempt: row by row, each checked just before it is inserted.
    RowByRow,
}

/// The COPY being run.
///
/// Invariants, from [`Loader::run`] until it returns (which is as long as a Loader lives):
/// `rel` is the events table, open and locked; `estate`, `rri` and `econtext` are the executor
/// state, result relation (its indexes open) and per-row expression context made for it;
/// `slots` are slots of a copy of `rel`'s descriptor; the index entries of `indexes` point into
/// `span_values` or the slots; `outer` is the memory context and resource owner the span began
/// in. The methods' unsafe blocks call PostgreSQL on these alone, unless they say otherwise.
struct Loader {
    rel: pg_sys::Relation,
    estate: *mut pg_sys::EState,
    rri: *mut pg_sys::ResultRelInfo,
    econtext: *mut pg_sys::ExprContext,
    cid: pg_sys::CommandId,
    indexes: Vec<Index>,
    rejects: Option<String>,
    /// The span's rows; `slots[..stored]` are in the table (in the span's subtransaction).
    slots: Vec<*mut pg_sys::TupleTableSlot>,
    stored: usize,
    /// Of those, how many were left out as stored already.
    skipped: usize,
    /// Whether a span's subtransaction is open, and where it began: the memory context and
    /// resource owner to return to.
    in_span: bool,
    /// With a rejects table, the rows of a batch are read in a subtransaction of their own
    /// (inside the span's, with nothing stored in it): a row's own error rolls back just that.
    in_parse: bool,
    /// The input line of the row at hand (rows counted, plus a header line).
    line: u64,
    /// Per platform column of the rules: its position, and why a row whose platform is NULL is
    /// rejected.
    platforms: Vec<(usize, String)>,
    outer: (pg_sys::MemoryContext, pg_sys::ResourceOwner),
    /// The values of the span's index entries.
    span_values: ValueArena,
    /// The span's rejected rows (reason, event), written to the rejects table when it ends.
    rejected: Vec<(String, String)>,
    /// Check the rows of the span against stored rows before inserting them.
    mode: Mode,
    /// The key bytes of the row at hand, and of the last row kept when its key is not looked up
    /// yet (`pending`: its index and hash).
    key: Vec<u8>,
    pending_key: Vec<u8>,
    pending: Option<(usize, u64)>,
    inserted: u64,
}

/// Past this much memory a rule stops remembering keys (and the unique indexes decide).
const MAX_MEMORY: usize = 256 << 20;

impl Loader {
    /// Runs the COPY; returns the number of rows inserted.
    ///
    /// # Safety
    /// `copy` and `query_string` are the statement being run and its text; `target` is what
    /// [`direct_target`] found for it.
    unsafe fn run(
        copy: *mut pg_sys::CopyStmt,
        query_string: *const std::ffi::c_char,
        target: &Target,
    ) -> u64 {
        let lockmode = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
        // SAFETY: the steps of COPY FROM (copyfrom.c) in its order: the table opened and
        // locked, INSERT checked on the columns given (or all) as COPY checks it, the COPY
        // begun on the statement's options, the executor state made with the table as its
        // result relation and its indexes open. An error between is cleaned up by the
        // transaction's abort, like COPY's.
        let (rel, cstate, estate, rri) = unsafe {
            pg_sys::PreventCommandIfReadOnly(c"COPY FROM".as_ptr());
            check_privileges(copy, target.view);
            let rel = pg_sys::table_open(target.events, lockmode);
            let pstate = pg_sys::make_parsestate(null_mut());
            (*pstate).p_sourcetext = query_string;
            let nsitem = pg_sys::addRangeTableEntryForRelation(
                pstate,
                rel,
                lockmode,
                null_mut(),
                false,
                false,
            );
            let attlist = view_columns(copy, target.view);
            let attnums = pg_sys::CopyGetAttnums((*rel).rd_att, rel, attlist);
            copy_permissions::check_insert(pstate, nsitem, attnums);
            let cstate = pg_sys::BeginCopyFrom(
                pstate,
                rel,
                null_mut(),
                (*copy).filename,
                (*copy).is_program,
                None,
                attlist,
                (*copy).options,
            );
            let estate = pg_sys::CreateExecutorState();
            copy_permissions::init_range_table(estate, pstate);
            let rri = pg_sys::palloc0(std::mem::size_of::<pg_sys::ResultRelInfo>())
                as *mut pg_sys::ResultRelInfo;
            (*rri).type_ = pg_sys::NodeTag::T_ResultRelInfo;
            pg_sys::ExecInitResultRelation(estate, rri, 1);
            // With the unique indexes' operators, which the checks against stored rows need.
            pg_sys::ExecOpenIndices(rri, true);
            (rel, cstate, estate, rri)
        };
        // SAFETY: reads of the executor state just made and of the running transaction.
        let (econtext, cid, outer) = unsafe {
            (
                pg_sys::MakePerTupleExprContext(estate),
                pg_sys::GetCurrentCommandId(true),
                (pg_sys::CurrentMemoryContext, pg_sys::CurrentResourceOwner),
            )
        };
        let mut loader = Loader {
            rel,
            estate,
            rri,
            econtext,
            cid,
            indexes: Vec::new(),
            rejects: target.rejects.clone(),
            slots: Vec::new(),
            stored: 0,
            skipped: 0,
            in_span: false,
            in_parse: false,
            // SAFETY: the statement being run (the caller's promise).
            line: u64::from(unsafe { copy_has_header(copy) }),
            platforms: Vec::new(),
            outer,
            span_values: ValueArena::default(),
            rejected: Vec::new(),
            mode: Mode::Optimistic,
            key: Vec::new(),
            pending_key: Vec::new(),
            pending: None,
            inserted: 0,
        };
        // The Loader's invariants hold from here until it is dropped at the end of this function.
        loader.open_indexes(target.events);
        // An error leaves no subtransaction open behind it (the span's is rolled back).
        let this = std::panic::AssertUnwindSafe(&mut loader as *mut Loader);
        // SAFETY: the loader outlives both closures, and they never use it at once (the catch
        // runs after the reading has unwound).
        let read = move || unsafe { (*this.0).read(cstate) };
        PgTryBuilder::new(read)
            .catch_others(move |e| {
                // SAFETY: see above.
                let loader = unsafe { &mut *this.0 };
                loader.end_parse(false);
                if loader.in_span {
                    loader.close_span(false);
                }
                e.rethrow()
            })
            .execute();
        // SAFETY: the teardown of what was made above, in reverse, as EndCopyFrom's caller does.
        unsafe {
            pg_sys::EndCopyFrom(cstate);
            for &slot in &loader.slots {
                pg_sys::ExecDropSingleTupleTableSlot(slot);
            }
            pg_sys::ExecCloseResultRelations(estate);
            pg_sys::ExecCloseRangeTableRelations(estate);
            pg_sys::FreeExecutorState(estate);
            pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        }
        loader.inserted
    }

    /// The indexes to fill, those of uniqueness rules first (in platform order).
    fn open_indexes(&mut self, events: pg_sys::Oid) {
        let rules: Vec<(pg_sys::Oid, String, String)> = Spi::connect(|client| {
            client
                .select(
                    "SELECT i.indexrelid, pg_catalog.format('platform %s: a key is missing (%s)', r.platform,
                                                       pg_catalog.array_to_string(r.keys, ', ')),
                            pg_catalog.format('platform %s: the key (%s) takes more than 2000 bytes', r.platform,
                                              pg_catalog.array_to_string(r.keys, ', '))
                     FROM rollup.uniqueness_rules r
                     JOIN pg_catalog.pg_index i ON i.indrelid = r.events_table
                     JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid AND c.relname = r.index_name
                     WHERE r.events_table = $1
                     ORDER BY r.platform",
                    None,
                    &[events.into()],
                )?
                .map(|row| {
                    Ok((
                        row.get::<pg_sys::Oid>(1)?.unwrap(),
                        row.get::<String>(2)?.unwrap(),
                        row.get::<String>(3)?.unwrap(),
                    ))
                })
                .collect::<Result<_, pgrx::spi::Error>>()
        })
        .unwrap_or_else(|e| error!("pg_rollup: could not read the uniqueness rules: {e}"));
        // SAFETY: the result relation's index arrays hold ri_NumIndices open indexes and their
        // IndexInfos (ExecOpenIndices); attribute names are NUL-terminated.
        unsafe {
            for i in 0..(*self.rri).ri_NumIndices as usize {
                let rel = *(*self.rri).ri_IndexRelationDescs.add(i);
                let info = *(*self.rri).ri_IndexRelationInfo.add(i);
                if !(*info).ii_ReadyForInserts {
                    continue;
                }
                let desc = (*rel).rd_att;
                let attrs = (0..(*info).ii_NumIndexAttrs as usize)
                    .map(|k| {
                        let att = tupdesc::attr(desc, k);
                        (value_kind_of_type(att.atttypid), att.attbyval, att.attlen)
                    })
                    .collect();
                let rule = rules.iter().find(|r| r.0 == (*rel).rd_id);
                self.indexes.push(Index {
                    rel,
                    info,
                    predicate: pg_sys::ExecPrepareQual((*info).ii_Predicate, self.estate),
                    platform: text_equality((*info).ii_Predicate),
                    check: if (*info).ii_Unique {
                        pg_sys::IndexUniqueCheck::UNIQUE_CHECK_YES
                    } else {
                        pg_sys::IndexUniqueCheck::UNIQUE_CHECK_NO
                    },
                    attrs,
                    rule: rule.map(|r| (KeySet::new(), r.1.clone(), r.2.clone())),
                    rows: Vec::new(),
                    values: Vec::new(),
                    nulls: Vec::new(),
                    done: 0,
                });
            }
            // Rules' indexes first, in the rules' order: the first that a row meets decides.
            self.indexes.sort_by_key(|x| {
                rules
                    .iter()
                    .position(|r| r.0 == (*x.rel).rd_id)
                    .unwrap_or(rules.len())
            });
            // A row without a platform cannot be told which rule it falls under.
            let desc = (*self.rel).rd_att;
            for index in &self.indexes {
                if let (Some(_), Some((column, _))) = (&index.rule, &index.platform) {
                    if !self.platforms.iter().any(|p| p.0 == *column) {
                        let name = std::ffi::CStr::from_ptr(
                            tupdesc::attr(desc, *column).attname.data.as_ptr(),
                        );
                        self.platforms.push((
                            *column,
                            format!("the platform (column {}) is NULL", name.to_string_lossy()),
                        ));
                    }
                }
            }
        }
    }

    /// Reads every row of the COPY and stores them, a batch at a time, in spans.
    fn read(&mut self, cstate: pg_sys::CopyFromState) {
        // SAFETY: `cstate` is the COPY's (BeginCopyFrom); the error context callback is put
        // on PostgreSQL's stack only around the reading of a row, and taken off after it; each
        // slot is cleared before it is filled.
        unsafe {
            // COPY's own error context ("COPY events, line 3, column payload: ...") while reading.
            // An error unwinds this frame before pgrx raises it again: the callback lives in
            // the statement's memory, so that it still names the line then.
            let callback =
                MemCtx::new(pg_sys::CurrentMemoryContext).leak(pg_sys::ErrorContextCallback {
                    previous: pg_sys::error_context_stack,
                    callback: Some(copy_from_error_callback),
                    arg: cstate.cast(),
                });
            // Slots of their own tuple descriptor, which no resource owner tracks: they outlive
            // the spans' subtransactions.
            let desc = pg_sys::CreateTupleDescCopy((*self.rel).rd_att);
            let ops = pg_sys::table_slot_callbacks(self.rel);
            let has_constraints = !(*(*self.rel).rd_att).constr.is_null();
            let mut n = 0;
            self.begin_span();
            self.begin_parse();
            loop {
                pg_sys::check_for_interrupts!();
                // Per row, three calls that cannot fail, made without pgrx's guard.
                memory_context_reset((*self.econtext).ecxt_per_tuple_memory);
                if n == self.slots.len() {
                    self.slots.push(pg_sys::MakeSingleTupleTableSlot(desc, ops));
                }
                let slot = self.slots[n];
                // The next row's slot (with its values and nulls, allocated with it) was last
                // used a span ago: it is fetched into the cache while this row is read.
                if let Some(&next) = self.slots.get(n + 1) {
                    prefetch(next.cast(), 3);
                }
                ((*(*slot).tts_ops).clear.unwrap())(slot);
                self.line += 1;
                pg_sys::error_context_stack = callback;
                let more = match self.next_row(cstate, slot, has_constraints) {
                    Ok(more) => more,
                    Err(e) => {
                        pg_sys::error_context_stack = (*callback).previous;
                        self.row_error(slot, e);
                        continue;
                    }
                };
                if !more {
                    pg_sys::error_context_stack = (*callback).previous;
                    break;
                }
                // The row before is looked up in its key set now, a row later: its slot of the
                // set has been fetched into the cache meanwhile. A duplicate gives its place to
                // this row.
                if !self.check_pending(&mut n) {
                    self.slots.swap(n, n + 1);
                }
                let slot = self.slots[n];
                let null_platform = self
                    .platforms
                    .iter()
                    .find(|p| *(*slot).tts_isnull.add(p.0))
                    .map(|p| p.1.clone());
                let verdict = match null_platform {
                    Some(reason) => {
                        Verdict::Reject(reason, PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION)
                    }
                    None => self.add_entries(slot, n),
                };
                if let Verdict::Reject(reason, code) = verdict {
                    self.reject(slot, reason, code);
                } else {
                    if let Verdict::Check(index, hash) = verdict {
                        std::mem::swap(&mut self.key, &mut self.pending_key);
                        self.pending = Some((index, hash));
                    }
                    // The row's values are copied into the slot as one tuple, which outlives
                    // the per-row memory.
                    pg_sys::ExecMaterializeSlot(slot);
                    n += 1;
                }
                pg_sys::error_context_stack = (*callback).previous;
                if n - self.stored == BATCH {
                    self.check_pending(&mut n);
                    if n - self.stored == BATCH {
                        self.end_parse(true);
                        self.store(n);
                        self.begin_parse();
                    }
                }
                if n == SPAN {
                    self.end_parse(true);
                    self.end_span(n);
                    n = 0;
                    self.begin_span();
                    self.begin_parse();
                }
            }
            self.end_parse(true);
            self.check_pending(&mut n);
            self.end_span(n);
        }
    }

    /// Reads the next row into `slot` and checks the table's constraints on it; false at the
    /// end of the data. With a rejects table, an error of the row's own (SQLSTATE class 22: a
    /// value its column does not take, a line with too few or too many columns; 23: a NOT NULL
    /// or CHECK constraint) is returned instead of raised; encoding errors stop the COPY.
    fn next_row(
        &mut self,
        cstate: pg_sys::CopyFromState,
        slot: *mut pg_sys::TupleTableSlot,
        has_constraints: bool,
    ) -> Result<bool, RowError> {
        let (econtext, rri, estate) = (self.econtext, self.rri, self.estate);
        let parsed = std::panic::AssertUnwindSafe(std::cell::Cell::new(false));
        // SAFETY: `slot` is one of the Loader's, whose values and nulls arrays NextCopyFrom
        // fills; the memory context is put back before anything else runs.
        let read = || unsafe {
            // Parsed in the per-row memory: what the parsers leave behind is freed with each row.
            let old = pg_sys::MemoryContextSwitchTo((*econtext).ecxt_per_tuple_memory);
            let more =
                pg_sys::NextCopyFrom(cstate, econtext, (*slot).tts_values, (*slot).tts_isnull);
            pg_sys::MemoryContextSwitchTo(old);
            if more {
                exec_store_virtual_tuple(slot);
                parsed.set(true);
                if has_constraints {
                    pg_sys::ExecConstraints(rri, slot, estate);
                }
            }
            Ok(more)
        };
        if !self.in_parse {
            return read();
        }
        PgTryBuilder::new(std::panic::AssertUnwindSafe(read))
            .catch_others(|e| {
                let report = match &e {
                    CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
                    CaughtError::RustPanic { .. } => e.rethrow(),
                };
                let code = report.sql_error_code();
                let own = value_error(code)
                    || matches!(
                        code,
                        PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION
                            | PgSqlErrorCode::ERRCODE_CHECK_VIOLATION
                    );
                if !own {
                    e.rethrow();
                }
                Err(RowError {
                    code,
                    message: report.message().to_owned(),
                    parsed: parsed.get(),
                })
            })
            .execute()
    }

    /// A row that failed on its own: the reading subtransaction is rolled back (nothing was
    /// stored in it) and begun again, and the row rejected: with its values when it was read,
    /// else with its line.
    fn row_error(&mut self, slot: *mut pg_sys::TupleTableSlot, e: RowError) {
        self.end_parse(false);
        self.begin_parse();
        let reason = format!("{}: {}", sqlstate(e.code), e.message);
        if e.parsed {
            self.reject(slot, reason, e.code);
        } else {
            self.rejected.push((
                format!("line {}: {reason}", self.line),
                format!("{{\"line\": {}}}", self.line),
            ));
        }
    }

    fn begin_parse(&mut self) {
        if self.rejects.is_some() && !self.in_parse {
            // SAFETY: a subtransaction that end_parse ends (or the error path of run).
            unsafe {
                pg_sys::BeginInternalSubTransaction(null_mut());
                pg_sys::MemoryContextSwitchTo(self.outer.0);
            }
            self.in_parse = true;
        }
    }

    fn end_parse(&mut self, commit: bool) {
        if self.in_parse {
            // (An error may have left the parsers' memory current.)
            self.end_subtransaction(commit);
            self.in_parse = false;
        }
    }

    /// Commits or rolls back the current subtransaction (a span's or a parse's) and returns to
    /// the memory of the statement's spans.
    fn end_subtransaction(&self, commit: bool) {
        // SAFETY: called only with a subtransaction of the Loader's open (in_parse or in_span).
        unsafe {
            if commit {
                pg_sys::ReleaseCurrentSubTransaction();
            } else {
                pg_sys::RollbackAndReleaseCurrentSubTransaction();
            }
            pg_sys::MemoryContextSwitchTo(self.outer.0);
        }
    }

    /// Looks the pending row's key up in its rule's key set (and adds it). The pending row is
    /// the last of the `n` kept; when it is a duplicate, its index entries are taken back, `n`
    /// goes down by one and the answer is false.
    fn check_pending(&mut self, n: &mut usize) -> bool {
        let Some((index, hash)) = self.pending.take() else {
            return true;
        };
        let (seen, _, _) = self.indexes[index].rule.as_mut().expect("a rule's index");
        if seen.insert_hashed(hash, &self.pending_key) {
            return true;
        }
        *n -= 1;
        self.take_back(*n);
        false
    }

    /// Takes back the index entries of `row`, the last row that has any.
    fn take_back(&mut self, row: usize) {
        for index in self
            .indexes
            .iter_mut()
            .filter(|x| x.rows.last() == Some(&row))
        {
            index.rows.pop();
            let width = index.attrs.len();
            index.values.truncate(index.values.len() - width);
            index.nulls.truncate(index.nulls.len() - width);
        }
    }

    /// Computes the row's entry in every index; keeps them unless the row has a NULL key. The
    /// first rule whose index predicate the row meets decides: a NULL key rejects the row, else
    /// whether its key was seen earlier ([`Verdict::Check`], looked up by the caller).
    fn add_entries(&mut self, slot: *mut pg_sys::TupleTableSlot, row: usize) -> Verdict {
        // SAFETY: `slot` is one of the Loader's, holding a row; FormIndexDatum fills at most
        // INDEX_MAX_KEYS values; a value is read as bytes by the kind of its index column, and
        // a platform column is text (a rule's predicate compares it with a text constant).
        unsafe {
            (*self.econtext).ecxt_scantuple = slot;
            let mut values = [pg_sys::Datum::null(); pg_sys::INDEX_MAX_KEYS as usize];
            let mut isnull = [false; pg_sys::INDEX_MAX_KEYS as usize];
            let key = &mut self.key;
            key.clear();
            let mut verdict = None;
            // What computing the entries leaves behind goes with the row's memory.
            let old = pg_sys::MemoryContextSwitchTo((*self.econtext).ecxt_per_tuple_memory);
            for (i, index) in self.indexes.iter_mut().enumerate() {
                let applies = match &index.platform {
                    Some((column, value)) => {
                        !*(*slot).tts_isnull.add(*column)
                            && varlena_bytes(*(*slot).tts_values.add(*column)) == &value[..]
                    }
                    None => pg_sys::ExecQual(index.predicate, self.econtext),
                };
                if !applies {
                    continue;
                }
                pg_sys::FormIndexDatum(
                    index.info,
                    slot,
                    self.estate,
                    values.as_mut_ptr(),
                    isnull.as_mut_ptr(),
                );
                if verdict.is_none() {
                    if let Some((seen, missing, too_large)) = &index.rule {
                        let keys = (*index.info).ii_NumIndexKeyAttrs as usize;
                        if isnull[..keys].iter().any(|&null| null) {
                            verdict = Some(Verdict::Reject(
                                missing.clone(),
                                PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION,
                            ));
                            break;
                        }
                        for (k, &(kind, _, _)) in index.attrs[..keys].iter().enumerate() {
                            with_value_bytes(kind, values[k], |bytes| {
                                key.extend_from_slice(&(bytes.len() as u32).to_ne_bytes());
                                key.extend_from_slice(bytes);
                            });
                        }
                        // As rollup_internal.key_fits counts: the values' bytes.
                        if !key_fits(key, keys) {
                            verdict = Some(Verdict::Reject(
                                too_large.clone(),
                                PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                            ));
                            break;
                        } else if seen.memory() > MAX_MEMORY {
                            verdict = Some(Verdict::Keep);
                        } else {
                            let hash = key_hash(key);
                            seen.prefetch(hash);
                            verdict = Some(Verdict::Check(i, hash));
                        }
                    }
                }
                for (k, &(_, by_value, len)) in index.attrs.iter().enumerate() {
                    index.nulls.push(isnull[k]);
                    index.values.push(if isnull[k] {
                        pg_sys::Datum::null()
                    } else {
                        self.span_values.copy(values[k], by_value, len)
                    });
                }
                index.rows.push(row);
            }
            pg_sys::MemoryContextSwitchTo(old);
            let verdict = verdict.unwrap_or(Verdict::Keep);
            if matches!(verdict, Verdict::Reject(..)) {
                // Take back the entries made for the indexes before the deciding one.
                self.take_back(row);
            }
            verdict
        }
    }

    /// A bad row: an error, or a row for the rejects table (as rollup.ingest does); the reason
    /// names its input line.
    fn reject(&mut self, slot: *mut pg_sys::TupleTableSlot, reason: String, code: PgSqlErrorCode) {
        let reason = format!("line {}: {reason}", self.line);
        // SAFETY: `slot` is one of the Loader's, holding a row of the events table's row type.
        let row = unsafe {
            DatumWithOid::new(
                pg_sys::ExecFetchSlotHeapTupleDatum(slot),
                (*(*self.rel).rd_rel).reltype,
            )
        };
        let sql = if self.rejects.is_some() {
            "SELECT pg_catalog.to_jsonb($1)::text"
        } else {
            "SELECT pg_catalog.left(pg_catalog.to_jsonb($1)::text, 1000)"
        };
        let event = Spi::get_one_with_args::<String>(sql, &[row])
            .ok()
            .flatten()
            .unwrap_or_default();
        if self.rejects.is_some() {
            self.rejected.push((reason, event));
            return;
        }
        ErrorReport::new(code, format!("event rejected: {reason}"), "")
            .set_detail(format!("Event: {event}"))
            .set_hint(
                "Create the ingest view with rejects_table => '<table with columns reason text, event jsonb>' \
                 to record bad events instead.",
            )
            .report(PgLogLevel::ERROR);
    }

    fn begin_span(&mut self) {
        // SAFETY: a subtransaction that close_span ends (or the error path of run).
        unsafe {
            self.outer = (pg_sys::CurrentMemoryContext, pg_sys::CurrentResourceOwner);
            pg_sys::BeginInternalSubTransaction(null_mut());
            pg_sys::MemoryContextSwitchTo(self.outer.0);
        }
        self.in_span = true;
        self.stored = 0;
        self.skipped = 0;
        for index in &mut self.indexes {
            index.done = 0;
        }
    }

    fn close_span(&mut self, commit: bool) {
        self.end_subtransaction(commit);
        // SAFETY: the resource owner the span began in, still live (an outer one).
        unsafe { pg_sys::CurrentResourceOwner = self.outer.1 };
        self.in_span = false;
    }

    /// Stores the span's rows up to `n`. A unique violation (a row stored meanwhile, or in an
    /// earlier batch of the span) rolls the span back; it is then stored again, checked.
    fn store(&mut self, n: usize) {
        if self.stored == n || self.try_insert(self.stored, n, self.mode) {
            return;
        }
        self.close_span(false);
        for attempt in 2..=ATTEMPTS {
            self.begin_span();
            if attempt == ATTEMPTS {
                self.insert(0, n, Mode::RowByRow);
            } else if self.try_insert(0, n, Mode::Checked) {
                break;
            } else {
                self.close_span(false);
            }
        }
        // The next span is checked too.
        self.mode = Mode::Checked;
    }

    /// [`Self::insert`]; false when a unique violation stopped it (the span must be rolled back).
    fn try_insert(&mut self, from: usize, to: usize, mode: Mode) -> bool {
        let this = std::panic::AssertUnwindSafe(&mut *self);
        PgTryBuilder::new(move || {
            let this = this;
            this.0.insert(from, to, mode);
            true
        })
        .catch_when(PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION, |_| false)
        .catch_when(PgSqlErrorCode::ERRCODE_EXCLUSION_VIOLATION, |_| false)
        .execute()
    }

    /// Ends the span: its rows are stored (up to `n`), and the rejected ones recorded.
    fn end_span(&mut self, n: usize) {
        self.store(n);
        self.close_span(true);
        self.inserted += (self.stored - self.skipped) as u64;
        // SAFETY: COPY's progress report, which BeginCopyFrom started.
        unsafe {
            pg_sys::pgstat_progress_update_param(
                pg_sys::PROGRESS_COPY_TUPLES_PROCESSED as i32,
                self.inserted as i64,
            )
        };
        // A checked span that met no stored row: the next one goes back to plain checks.
        if self.mode == Mode::Checked && self.skipped == 0 {
            self.mode = Mode::Optimistic;
        }
        if let Some(table) = &self.rejects {
            for (reason, event) in self.rejected.drain(..) {
                Spi::run_with_args(
                    &format!("INSERT INTO {table} (reason, event) VALUES ($1, $2::jsonb)"),
                    &[reason.into(), event.into()],
                )
                .unwrap_or_else(|e| {
                    error!("pg_rollup: could not record a rejected event in {table}: {e}")
                });
            }
        }
        for index in &mut self.indexes {
            index.rows.clear();
            index.values.clear();
            index.nulls.clear();
        }
        self.span_values.reset();
    }

    /// Inserts rows `from..to` of the span, in batches: each batch's rows in one multi-row
    /// insert, then their index entries. `Checked`: rows whose key a unique index holds
    /// already are left out first. `RowByRow`: each row checked just before it is inserted,
    /// which also finds two rows of the span that share the key of an index no rule decides for.
    fn insert(&mut self, from: usize, to: usize, mode: Mode) {
        // SAFETY: rows `from..to` are slots of the Loader holding rows; each index entry
        // `e` has `width` values and nulls at e * width (add_entries), for the row's tuple id
        // that the insert just set.
        unsafe {
            let bistate = pg_sys::GetBulkInsertState();
            let mut keep = vec![true; to - from];
            for lo in (from..to).step_by(BATCH) {
                let hi = (lo + BATCH).min(to);
                let mut batch = Vec::with_capacity(hi - lo);
                for row in lo..hi {
                    let slot = self.slots[row];
                    if mode != Mode::Optimistic {
                        pg_sys::MemoryContextReset((*self.econtext).ecxt_per_tuple_memory);
                        keep[row - from] = indexes::no_conflict(self.rri, slot, self.estate);
                    }
                    if !keep[row - from] {
                        self.skipped += 1;
                    } else if mode == Mode::RowByRow {
                        pg_sys::table_tuple_insert(self.rel, slot, self.cid, 0, bistate);
                        indexes::insert_entries(self.rri, slot, self.estate);
                    } else {
                        batch.push(slot);
                    }
                }
                if !batch.is_empty() {
                    pg_sys::table_multi_insert(
                        self.rel,
                        batch.as_mut_ptr(),
                        batch.len() as i32,
                        self.cid,
                        0,
                        bistate,
                    );
                }
                for index in &mut self.indexes {
                    let width = index.attrs.len();
                    while index.done < index.rows.len() && index.rows[index.done] < hi {
                        let (e, row) = (index.done, index.rows[index.done]);
                        index.done += 1;
                        if mode == Mode::RowByRow || !keep[row - from] {
                            continue;
                        }
                        pg_sys::index_insert(
                            index.rel,
                            index.values.as_mut_ptr().add(e * width),
                            index.nulls.as_mut_ptr().add(e * width),
                            &mut (*self.slots[row]).tts_tid,
                            self.rel,
                            index.check,
                            false,
                            index.info,
                        );
                    }
                }
                self.stored = hi;
            }
            // Its pinned page went with the subtransaction if this attempt failed.
            pg_sys::FreeBulkInsertState(bistate);
        }
    }
}

/// The column and value of a predicate `<text column> = '<value>'` whose equality is byte
/// equality (a deterministic collation), as a uniqueness rule's index has.
///
/// # Safety
/// `predicate` is an index's predicate (a list of expression nodes) or NULL.
unsafe fn text_equality(predicate: *mut pg_sys::List) -> Option<(usize, Vec<u8>)> {
    // SAFETY: nodes are read as the type their tag says; a text constant is a varlena.
    unsafe {
        if predicate.is_null() || (*predicate).length != 1 {
            return None;
        }
        let op = (*(*predicate).elements).ptr_value as *mut pg_sys::OpExpr;
        if (*op).xpr.type_ != pg_sys::NodeTag::T_OpExpr
            || (*op).opfuncid != pg_sys::Oid::from(pg_sys::F_TEXTEQ)
            || (*op).inputcollid == pg_sys::InvalidOid
            || !pg_sys::get_collation_isdeterministic((*op).inputcollid)
            || (*(*op).args).length != 2
        {
            return None;
        }
        let args = [
            (*(*(*op).args).elements).ptr_value,
            (*(*(*op).args).elements.add(1)).ptr_value,
        ];
        let (var, value) = match args.map(|a| (*(a as *mut pg_sys::Node)).type_) {
            [pg_sys::NodeTag::T_Var, pg_sys::NodeTag::T_Const] => {
                (args[0] as *mut pg_sys::Var, args[1] as *mut pg_sys::Const)
            }
            [pg_sys::NodeTag::T_Const, pg_sys::NodeTag::T_Var] => {
                (args[1] as *mut pg_sys::Var, args[0] as *mut pg_sys::Const)
            }
            _ => return None,
        };
        if (*var).varattno <= 0 || (*value).constisnull {
            return None;
        }
        Some((
            (*var).varattno as usize - 1,
            varlena_bytes((*value).constvalue).to_vec(),
        ))
    }
}

/// The span's copies of index values (expression results live only as long as the row's
/// memory), in chunks that stay in place until the span ends (its entries point into them) and
/// are filled again by the next span.
#[derive(Default)]
struct ValueArena {
    chunks: Vec<Vec<u64>>,
    /// The chunk being filled, and how many of its words are used.
    current: usize,
    used: usize,
}

impl ValueArena {
    const CHUNK_WORDS: usize = 8 * 1024;

    /// A copy of `value`, 8-byte aligned.
    ///
    /// # Safety
    /// `value` is a value of a type of length `len`, passed by value or not as `by_value` says.
    unsafe fn copy(&mut self, value: pg_sys::Datum, by_value: bool, len: i16) -> pg_sys::Datum {
        if by_value {
            return value;
        }
        // SAFETY: a by-reference value of `len` bytes, a varlena (-1) or a C string (-2) (the
        // caller's promise), copied into a chunk with at least its size in free words.
        unsafe {
            let src = value.cast_mut_ptr::<u8>();
            let size = match len {
                -1 => pgrx::varsize_any(src.cast()),
                -2 => std::ffi::CStr::from_ptr(src.cast())
                    .to_bytes_with_nul()
                    .len(),
                n => n as usize,
            };
            let words = size.div_ceil(8);
            loop {
                match self.chunks.get_mut(self.current) {
                    Some(chunk) if chunk.len() - self.used >= words => {
                        let dst = chunk[self.used..].as_mut_ptr().cast::<u8>();
                        self.used += words;
                        std::ptr::copy_nonoverlapping(src, dst, size);
                        return pg_sys::Datum::from(dst);
                    }
                    // Too small for what is left: the next chunk (one this span has not used).
                    Some(_) => (self.current, self.used) = (self.current + 1, 0),
                    None => self.chunks.push(vec![0; Self::CHUNK_WORDS.max(words)]),
                }
            }
        }
    }

    fn reset(&mut self) {
        (self.current, self.used) = (0, 0);
    }
}

/// The columns the COPY names, checked against the view's (which leave out the events table's
/// identity and generated columns); all of the view's when it names none.
///
/// # Safety
/// `copy` is the statement being run, `view` the view it names (locked).
unsafe fn view_columns(copy: *mut pg_sys::CopyStmt, view: pg_sys::Oid) -> *mut pg_sys::List {
    // SAFETY: a valid CopyStmt; the view is open while its descriptor is read.
    unsafe {
        let rel = pg_sys::relation_open(view, pg_sys::NoLock as pg_sys::LOCKMODE);
        let desc = (*rel).rd_att;
        let mut attlist = (*copy).attlist;
        if attlist.is_null() {
            for i in 0..(*desc).natts as usize {
                let att = tupdesc::attr(desc, i);
                if !att.attisdropped {
                    attlist = pg_sys::lappend(
                        attlist,
                        pg_sys::makeString(pg_sys::pstrdup(att.attname.data.as_ptr())).cast(),
                    );
                }
            }
        } else {
            pg_sys::CopyGetAttnums(desc, rel, attlist);
        }
        pg_sys::relation_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        attlist
    }
}

/// What COPY checks before it reads: for a server-side file or program, the role that may
/// read files or run programs; INSERT on the view named.
///
/// # Safety
/// `copy` is the statement being run.
unsafe fn check_privileges(copy: *mut pg_sys::CopyStmt, view: pg_sys::Oid) {
    // SAFETY: a valid CopyStmt; catalog lookups.
    unsafe {
        let user = pg_sys::GetUserId();
        if !(*copy).filename.is_null() {
            let role = if (*copy).is_program {
                pg_sys::ROLE_PG_EXECUTE_SERVER_PROGRAM
            } else {
                pg_sys::ROLE_PG_READ_SERVER_FILES
            };
            if !pg_sys::is_member_of_role(user, pg_sys::Oid::from(role)) {
                copy_permissions::server_side_denied((*copy).is_program).report(PgLogLevel::ERROR);
            }
        }
        let acl = pg_sys::pg_class_aclcheck(view, user, pg_sys::ACL_INSERT as pg_sys::AclMode);
        if acl != pg_sys::AclResult::ACLCHECK_OK {
            pg_sys::aclcheck_error(
                acl,
                pg_sys::ObjectType::OBJECT_VIEW,
                pg_sys::get_rel_name(view),
            );
        }
    }
}
