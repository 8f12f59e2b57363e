//! pg_rollup: real-time analytics inside PostgreSQL.
//!
//! The algorithms and byte codecs live in the `rollup-core` crate; this crate is the
//! PostgreSQL glue, one module per SQL feature area.

// Every unsafe operation sits in an `unsafe` block of its own, which says why it holds.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(clippy::missing_safety_doc)]

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

pub mod compat;
pub mod events;
pub mod fmgr;
pub mod gucs;
pub mod hll;
pub mod memory;
pub mod planner;
pub mod qsketch;
pub mod rollups;
pub mod searches;
pub mod security;
pub mod sketch_aggregates;
pub mod sqlparse;
pub mod topn;

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::register();
    planner::register();
    events::loader::register();
}

// Schema rollup_internal (below) made first: the SQL files define helpers in it before pgrx
// places the schema's own declaration.
pgrx::extension_sql!(
    "CREATE SCHEMA rollup_internal;\n",
    name = "internal_schema",
    bootstrap
);

// The schemas' grants and the helpers every feature area's SQL uses.
pgrx::extension_sql_file!(
    "../sql/common.sql",
    name = "common",
    requires = [rollup::version]
);

// A description of every public object, after everything else.
pgrx::extension_sql_file!("../sql/comments.sql", name = "comments", finalize);

/// Objects that belong to pg_rollup's own API (rollups, rules, status) live in schema `rollup`;
/// the sketch types keep the unqualified names their users already query with.
#[pg_schema]
mod rollup {
    use pgrx::prelude::*;

    /// The version of the installed pg_rollup library.
    #[pg_extern(immutable, parallel_safe)]
    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

/// pg_rollup's internal helpers live in schema `rollup_internal`: they are called by its
/// functions and by the statements those generate, and are no API (sql/common.sql grants what
/// their callers need).
#[pg_schema]
mod rollup_internal {}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn version_matches_the_control_file() {
        let installed = Spi::get_one::<String>(
            "SELECT extversion::text FROM pg_extension WHERE extname = 'pg_rollup'",
        );
        let reported = Spi::get_one::<String>("SELECT rollup.version()");
        assert_eq!(installed, reported);
        assert_eq!(reported, Ok(Some(env!("CARGO_PKG_VERSION").to_string())));
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
