//! Rollups: definitions, runs and levels (`sql/rollups.sql`), catch-up, scheduling,
//! retention, status and query views (`sql/operations.sql`) are SQL; the
//! lock-free wait for in-flight writers that makes incremental runs exactly-once is here, and
//! the background worker that keeps the error of a failed run.

pub mod boundary;
pub mod run_errors;
pub mod writers;

pgrx::extension_sql_file!(
    "../../sql/rollups.sql",
    name = "rollups",
    requires = [
        "events",
        "hll",
        "topn",
        "qsketch",
        writers::safe_watermark,
        run_errors::record_run_error
    ]
);
pgrx::extension_sql_file!(
    "../../sql/operations.sql",
    name = "operations",
    requires = ["rollups"]
);
