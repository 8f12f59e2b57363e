//! Waiting for in-flight writers without taking a lock (the exactly-once core of
//! `rollup.run` in incremental mode).
//!
//! Writers hold RowExclusiveLock on the table from before they draw an id until they end.
//! `writers()` lists the virtual transaction ids holding a lock that conflicts with
//! ShareLock, i.e. every transaction that may still commit rows into the table; it enqueues
//! nothing, so it never blocks anyone. `writers_done()` tells whether all of a recorded list
//! have ended, optionally waiting a bounded time for them.

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::compat::vxid;

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

/// Virtual transaction ids ("backend/localxid") of the transactions, other than this one,
/// that hold a write lock on any of `relations`.
#[pg_extern(schema = "rollup", name = "_writers", volatile, parallel_unsafe)]
fn writers(relations: Vec<pg_sys::Oid>) -> Vec<String> {
    let mut out = Vec::new();
    for relid in relations {
        let tag = relation_locktag(relid);
        // SAFETY: GetLockConflicts returns an array in this transaction's memory, ended by an invalid id.
        unsafe {
            let mut vxid = pg_sys::GetLockConflicts(
                &tag,
                pg_sys::ShareLock as pg_sys::LOCKMODE,
                std::ptr::null_mut(),
            );
            // The list ends with an invalid id (local id 0); a prepared transaction's has
            // backend -1 and is listed too.
            while (*vxid).localTransactionId != pg_sys::InvalidLocalTransactionId {
                let (backend, local) = vxid::parts(&*vxid);
                let id = format!("{backend}/{local}");
                if !out.contains(&id) {
                    out.push(id);
                }
                vxid = vxid.add(1);
            }
        }
    }
    out
}

fn parse_vxid(text: &str) -> pg_sys::VirtualTransactionId {
    let parsed = text
        .split_once('/')
        .and_then(|(b, l)| Some((b.parse::<i32>().ok()?, l.parse::<u32>().ok()?)));
    match parsed {
        // Backend -1 with a transaction id is a prepared transaction; local id 0 is invalid.
        Some((backend_id, local)) if (backend_id >= 1 || backend_id == -1) && local != 0 => {
            vxid::from_parts(backend_id, local)
        }
        _ => {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
                format!("invalid virtual transaction id: \"{text}\"")
            );
        }
    }
}

/// True when every transaction in `vxids` has ended; waits up to `wait_ms` milliseconds
/// for them (0: just look), polling, so the caller takes and queues no lock.
#[pg_extern(schema = "rollup", name = "_writers_done", volatile, parallel_unsafe)]
fn writers_done(vxids: Vec<String>, wait_ms: i32) -> bool {
    let ids: Vec<_> = vxids.iter().map(|v| parse_vxid(v)).collect();
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(wait_ms.max(0) as u64);
    let mut pause_us = 200;
    loop {
        // VirtualXactLock(.., wait = false) is true when the transaction has ended.
        if ids
            .iter()
            // SAFETY: does not wait or queue (wait = false); `v` is a valid id (parse_vxid).
            .all(|&v| unsafe { pg_sys::VirtualXactLock(v, false) })
        {
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
