//! What differs between the PostgreSQL majors pg_rollup builds for (14 to 18), one module per
//! concern, each behind `#[cfg(feature = "pgNN")]`; the rest of the crate calls these and
//! never tests a version itself.

pub mod copy_permissions;
pub mod indexes;
pub mod nodes;
pub mod tupdesc;
pub mod vxid;
