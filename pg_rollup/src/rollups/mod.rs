//! Rollups (SPEC §4): definitions, runs and levels are SQL (`sql/rollups.sql`); the
//! lock-free wait for in-flight writers that makes incremental runs exactly-once is here.

pub mod writers;

pgrx::extension_sql_file!("../../sql/rollups.sql", name = "rollups", requires = ["events", "hll", "topn", writers::writers, writers::writers_done]);
