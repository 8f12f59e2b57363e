//! Events (SPEC §3): per-platform uniqueness rules and bulk ingestion with dedup, written in
//! SQL (`sql/events.sql`); key expressions are checked with [`crate::sqlparse`].

pgrx::extension_sql_file!("../sql/events.sql", name = "events", requires = [sqlparse::parse_fragment, rollup::version]);
