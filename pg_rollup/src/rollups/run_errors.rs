//! The error of a failed `rollup.run`, kept in `rollup.status` although the run's transaction
//! is rolled back.
//!
//! A plain `SELECT rollup.run(..)` that fails aborts its transaction, and with it anything the
//! run wrote to the catalog. So the run hands its error to a short-lived background worker,
//! which records it in a transaction of its own (an autonomous transaction) and exits; the run
//! waits for it, then raises the error as it was. The error travels in a dynamic shared
//! memory segment (JSON: caller, rollup, error); the worker connects as the catalog's owner and
//! records through `rollup_internal.catalog_write`, which checks that the caller may act for the
//! rollup, exactly as a write by the caller itself. When no worker can be started (all of
//! `max_worker_processes` busy) or the record cannot be written within a second (the caller's
//! own transaction holds the row), the error is not recorded and a WARNING says so.

use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags,
};
use pgrx::prelude::*;
use pgrx::{pg_sys, JsonB};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct RunError {
    caller: u32,
    rollup: String,
    error: String,
}

/// A dynamic shared memory segment: a u32 flag the worker sets once it recorded the error, a
/// u32 length, then the JSON of a [`RunError`].
struct Segment(*mut pg_sys::dsm_segment);

const HEADER: usize = 8;

impl Segment {
    fn create(bytes: &[u8]) -> Self {
        // SAFETY: a new segment of HEADER + len bytes, filled within its size.
        unsafe {
            let seg = pg_sys::dsm_create(HEADER + bytes.len(), 0);
            let at = pg_sys::dsm_segment_address(seg) as *mut u8;
            let header: [u32; 2] = [0, bytes.len() as u32];
            std::ptr::copy_nonoverlapping(header.as_ptr() as *const u8, at, HEADER);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), at.add(HEADER), bytes.len());
            Segment(seg)
        }
    }

    fn attach(handle: pg_sys::dsm_handle) -> Option<Self> {
        // SAFETY: attaching by handle gives NULL when the segment is gone.
        let seg = unsafe { pg_sys::dsm_attach(handle) };
        (!seg.is_null()).then_some(Segment(seg))
    }

    fn header(&self) -> *mut u32 {
        // SAFETY: the segment stays attached while `self` lives.
        unsafe { pg_sys::dsm_segment_address(self.0) as *mut u32 }
    }

    fn bytes(&self) -> Vec<u8> {
        // SAFETY: the segment holds HEADER + len bytes (create).
        unsafe {
            let len = self.header().add(1).read_unaligned() as usize;
            std::slice::from_raw_parts((self.header() as *const u8).add(HEADER), len).to_vec()
        }
    }

    fn recorded(&self) -> bool {
        // SAFETY: the flag, the segment's first u32; volatile: the worker sets it from its process.
        unsafe { self.header().read_volatile() == 1 }
    }

    fn set_recorded(&self) {
        // SAFETY: as in `recorded`.
        unsafe { self.header().write_volatile(1) };
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: created or attached by this Segment, detached once.
        unsafe { pg_sys::dsm_detach(self.0) };
    }
}

/// Records `error` as the last error of rollup `rollup_name` (and the levels below it) in a
/// transaction of its own, on behalf of the current user; whether it was recorded.
#[pg_extern(
    schema = "rollup_internal",
    name = "record_run_error",
    volatile,
    parallel_unsafe
)]
#[search_path(pg_catalog, pg_temp)]
fn record_run_error(rollup_name: &str, error: &str) -> bool {
    let message = RunError {
        // SAFETY: reads the session's current user.
        caller: unsafe { pg_sys::GetUserId() }.to_u32(),
        rollup: rollup_name.to_owned(),
        error: error.to_owned(),
    };
    let catalog_owner = crate::security::catalog_owner();
    let segment = Segment::create(&serde_json::to_vec(&message).expect("serializable"));
    // SAFETY: a live segment (created above).
    let handle = unsafe { pg_sys::dsm_segment_handle(segment.0) };
    let started = BackgroundWorkerBuilder::new("pg_rollup run error")
        .set_type("pg_rollup run error")
        .set_library("pg_rollup")
        .set_function("pg_rollup_record_run_error")
        .set_argument(Some(pg_sys::Datum::from(handle as usize)))
        .set_extra(&format!(
            "{} {}",
            // SAFETY: a backend global, set once connected.
            unsafe { pg_sys::MyDatabaseId }.to_u32(),
            catalog_owner.to_u32()
        ))
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .enable_spi_access()
        // SAFETY: a backend global.
        .set_notify_pid(unsafe { pg_sys::MyProcPid })
        .load_dynamic();
    let recorded = match started {
        Ok(worker) => {
            worker.wait_for_startup().is_ok()
                && worker.wait_for_shutdown().is_ok()
                && segment.recorded()
        }
        Err(_) => false,
    };
    drop(segment);
    if !recorded {
        ereport!(
            WARNING,
            PgSqlErrorCode::ERRCODE_WARNING,
            format!("the error of rollup \"{rollup_name}\" could not be recorded in rollup.status"),
            "A background worker records it in a transaction of its own: none could start (max_worker_processes), or it \
             could not write within a second (this transaction holds the rollup's status row). See the server log."
        );
    }
    recorded
}

/// The background worker: reads the error from the segment named by its argument and records
/// it through `rollup_internal.catalog_write` as the catalog's owner, in its own transaction.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_rollup_record_run_error(arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let mut ids = BackgroundWorker::get_extra()
        .split(' ')
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let (db, user) = (ids.next().unwrap_or(0), ids.next().unwrap_or(0));
    BackgroundWorker::connect_worker_to_spi_by_oid(
        Some(pg_sys::Oid::from(db)),
        Some(pg_sys::Oid::from(user)),
    );
    let handle = arg.value() as pg_sys::dsm_handle;
    BackgroundWorker::transaction(|| {
        let Some(segment) = Segment::attach(handle) else {
            error!("pg_rollup: the run's error is gone");
        };
        let message: RunError = match serde_json::from_slice(&segment.bytes()) {
            Ok(m) => m,
            Err(e) => error!("pg_rollup: unreadable run error: {e}"),
        };
        let args = serde_json::json!({ "name": message.rollup, "error": message.error });
        Spi::run("SET LOCAL lock_timeout = '1s'").expect("SET LOCAL");
        if let Err(e) = Spi::run_with_args(
            "SELECT rollup_internal.catalog_write('run_failed', $1, $2)",
            &[pg_sys::Oid::from(message.caller).into(), JsonB(args).into()],
        ) {
            error!(
                "pg_rollup: could not record the error of rollup \"{}\": {e}",
                message.rollup
            );
        }
        segment.set_recorded();
    });
}
