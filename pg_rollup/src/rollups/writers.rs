//! The watermark of an incremental `rollup.run` (the exactly-once core), without taking a lock:
//! `rollup_internal.safe_watermark` reads the sequence, lists the writers, and lets
//! [`rollup_core::watermark::safe_bound`] decide.
//!
//! Writers hold RowExclusiveLock on the table from before they draw an id until they end.
//! `writing_transactions()` lists the virtual transaction ids holding a lock that conflicts with
//! ShareLock, i.e. every transaction that may still commit rows into the table; it enqueues
//! nothing, so it never blocks anyone. `ended()` tells whether all of a list have ended,
//! optionally waiting a bounded time for them.

use pgrx::prelude::*;
use pgrx::{pg_sys, JsonB};
use rollup_core::watermark::{safe_bound, Checkpoint, Vxid};
use serde::{Deserialize, Serialize};

use crate::compat::vxid;
use crate::fmgr::OrRaise;

fn relation_locktag(relid: pg_sys::Oid) -> pg_sys::LOCKTAG {
    pg_sys::LOCKTAG {
        // SAFETY: a backend global, set once connected.
        locktag_field1: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        locktag_field2: relid.to_u32(),
        locktag_field3: 0,
        locktag_field4: 0,
        locktag_type: pg_sys::LockTagType::LOCKTAG_RELATION as u8,
        locktag_lockmethodid: pg_sys::DEFAULT_LOCKMETHOD as u8,
    }
}

/// The transactions, other than this one, that hold a write lock on any of `relations`.
fn writing_transactions(relations: &[pg_sys::Oid]) -> Vec<Vxid> {
    let mut out = Vec::new();
    for &relid in relations {
        let tag = relation_locktag(relid);
        // SAFETY: GetLockConflicts returns an array in this transaction's memory, ended by an
        // invalid id; it takes no lock and waits for nothing.
        unsafe {
            let mut vxid = pg_sys::GetLockConflicts(
                &tag,
                pg_sys::ShareLock as pg_sys::LOCKMODE,
                std::ptr::null_mut(),
            );
            // A prepared transaction's id has backend -1 and is listed too.
            while (*vxid).localTransactionId != pg_sys::InvalidLocalTransactionId {
                let (backend, local) = vxid::parts(&*vxid);
                let id = Vxid { backend, local };
                if !out.contains(&id) {
                    out.push(id);
                }
                vxid = vxid.add(1);
            }
        }
    }
    out
}

/// True when every transaction in `ids` has ended; waits up to `wait_ms` milliseconds for them
/// (0: just look), polling, so the caller takes and queues no lock.
fn ended(ids: &[Vxid], wait_ms: i32) -> bool {
    let ids: Vec<_> = ids
        .iter()
        .map(|v| vxid::from_parts(v.backend, v.local))
        .collect();
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(wait_ms.max(0) as u64);
    let mut pause_us = 200;
    loop {
        // VirtualXactLock(.., wait = false) is true when the transaction has ended.
        let has_ended = |&v| {
            // SAFETY: does not wait or queue (wait = false) for a well-formed id.
            unsafe { pg_sys::VirtualXactLock(v, false) }
        };
        if ids.iter().all(has_ended) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        // SAFETY: a sleep and an interrupt check, where an ERROR may unwind.
        unsafe {
            pg_sys::pg_usleep(pause_us);
            pg_sys::check_for_interrupts!();
        }
        pause_us = (pause_us * 2).min(10_000);
    }
}

/// A checkpoint as `rollup.progress` keeps it: `{"id": 123, "writers": ["3/1234", ...]}`.
#[derive(Serialize, Deserialize)]
struct StoredCheckpoint {
    id: i64,
    writers: Vec<String>,
}

/// The watermark an incremental run of a rollup over `relation` (ids drawn from `sequence`) may
/// advance to, and the checkpoints to keep for the next run (rollup_core::watermark): waits up
/// to `wait_ms` for the transactions writing the table now. A Citus worker runs it for the rows
/// written through it (rollup_internal.node_bounds).
#[pg_extern(
    schema = "rollup_internal",
    name = "safe_watermark",
    volatile,
    parallel_unsafe
)]
#[search_path(pg_catalog, pg_temp)]
fn safe_watermark(
    sequence: pg_sys::Oid,
    relation: pg_sys::Oid,
    wait_ms: i32,
    checkpoints: Option<JsonB>,
) -> TableIterator<'static, (name!(safe, Option<i64>), name!(checkpoints, JsonB))> {
    // Checked for what exactly-once relies on (ascending, CACHE 1), then named for the query.
    let name = Spi::get_one_with_args::<String>(
        "SELECT $1::regclass::text FROM rollup_internal.check_sequence($1)",
        &[sequence.into()],
    )
    .unwrap_or_else(|e| error!("pg_rollup: {e}"))
    .unwrap_or_else(|| error!("pg_rollup: sequence {sequence:?} does not exist"));
    let (last, called) =
        Spi::get_two::<i64, bool>(&format!("SELECT last_value, is_called FROM {name}"))
            .unwrap_or_else(|e| error!("pg_rollup: could not read sequence {name}: {e}"));
    let last_id = last.expect("a sequence has a last value") - i64::from(!called.unwrap_or(true));
    // The table itself and, when partitioned, every partition (writers may lock only those).
    let relations = Spi::get_one_with_args::<Vec<pg_sys::Oid>>(
        "SELECT $1 || ARRAY(SELECT relid::oid FROM pg_catalog.pg_partition_tree($1))",
        &[relation.into()],
    )
    .ok()
    .flatten()
    .unwrap_or_default();
    let writing = writing_transactions(&relations);
    let kept: Vec<StoredCheckpoint> = match checkpoints {
        Some(JsonB(json)) => serde_json::from_value(json).unwrap_or_else(|e| {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!("invalid checkpoints in rollup.progress: {e}")
            );
        }),
        None => Vec::new(),
    };
    let kept: Vec<Checkpoint> = kept
        .into_iter()
        .map(|c| Checkpoint {
            id: c.id,
            writers: c
                .writers
                .iter()
                .map(|w| Vxid::parse(w).or_raise())
                .collect(),
        })
        .collect();
    let bound = safe_bound(last_id, writing, &kept, |ids, wait| {
        ended(ids, if wait { wait_ms } else { 0 })
    });
    let stored: Vec<StoredCheckpoint> = bound
        .checkpoints
        .iter()
        .map(|c| StoredCheckpoint {
            id: c.id,
            writers: c.writers.iter().map(Vxid::to_string).collect(),
        })
        .collect();
    let json = serde_json::to_value(stored).expect("checkpoints serialize");
    TableIterator::once((bound.safe, JsonB(json)))
}

// rollup._writers and rollup._writers_done as releases before 0.7.0 declare them (their
// rollup._safe_id, in PL/pgSQL, made the decision): their install scripts and their runs work
// with this library until ALTER EXTENSION UPDATE replaces them with rollup_internal.safe_watermark.
#[pg_extern(sql = false)]
fn writers(relations: Vec<pg_sys::Oid>) -> Vec<String> {
    writing_transactions(&relations)
        .iter()
        .map(Vxid::to_string)
        .collect()
}

#[pg_extern(sql = false)]
fn writers_done(vxids: Vec<String>, wait_ms: i32) -> bool {
    let ids: Vec<Vxid> = vxids.iter().map(|v| Vxid::parse(v).or_raise()).collect();
    ended(&ids, wait_ms)
}
