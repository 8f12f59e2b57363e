//! The trust boundary between roles (docs/security.md).
//!
//! pg_rollup's catalog tables are SELECT-only for PUBLIC. Two gates act on behalf of the
//! calling role, and only after checking that it may:
//!
//! - [`write_catalog`] (`rollup_internal.write_catalog(op, args)`) is the only way to change the
//!   catalog. It runs `rollup_internal.catalog_write(op, caller, args)` (sql/security.sql) as the
//!   catalog's owner, like a `SECURITY DEFINER` function, but hands it the role that called,
//!   which a definer function could not learn; that function, which PUBLIC may not execute,
//!   checks that the caller may act for every table and rollup the change names.
//! - [`as_owner`] (`rollup_internal.as_owner(rollup, action, arg)`) runs an action of a rollup (a run,
//!   a reset, retention, the plans) as the rollup's owner, in a security-restricted operation,
//!   as REFRESH MATERIALIZED VIEW runs a view's query as the view's owner: the SQL a rollup
//!   stores runs with the privileges of the role that wrote it, whoever asks for the run
//!   (a superuser, a pg_cron job).
//!
//! The user id is switched for the call and restored when it returns or raises (the guard's
//! drop; an aborted (sub)transaction would restore it too).

use pgrx::prelude::*;
use pgrx::spi::SpiError;
use pgrx::{pg_sys, JsonB};

pgrx::extension_sql_file!(
    "../sql/security.sql",
    name = "security",
    requires = ["operations", "events", write_catalog, as_owner]
);

/// The current user id and security context, as they were before [`SwitchedUser::to`];
/// restored when dropped, also while an error unwinds.
pub(crate) struct SwitchedUser {
    user: pg_sys::Oid,
    context: i32,
}

impl SwitchedUser {
    pub(crate) fn to(user: pg_sys::Oid, restricted: bool) -> Self {
        let mut saved = SwitchedUser {
            user: pg_sys::InvalidOid,
            context: 0,
        };
        // SAFETY: writes the session's user and security context into the fields.
        unsafe { pg_sys::GetUserIdAndSecContext(&mut saved.user, &mut saved.context) };
        let mut context = saved.context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32;
        if restricted {
            context |= pg_sys::SECURITY_RESTRICTED_OPERATION as i32;
        }
        // SAFETY: switches to a role of the catalog, restored when dropped.
        unsafe { pg_sys::SetUserIdAndSecContext(user, context) };
        saved
    }
}

impl Drop for SwitchedUser {
    fn drop(&mut self) {
        // SAFETY: restores what `to` saved.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) };
    }
}

fn one<T>(result: Result<Option<T>, SpiError>) -> Option<T> {
    match result {
        Ok(value) => value,
        Err(e) => {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("pg_rollup: {e}")
            );
        }
    }
}

fn role_name(role: pg_sys::Oid) -> String {
    one(Spi::get_one_with_args::<String>(
        "SELECT $1::regrole::text",
        &[role.into()],
    ))
    .unwrap_or_default()
}

/// The role that owns pg_rollup's catalog (the extension's tables), which writes it.
pub(crate) fn catalog_owner() -> pg_sys::Oid {
    one(Spi::get_one::<pg_sys::Oid>(
        "SELECT relowner FROM pg_class WHERE oid = 'rollup.rollups'::regclass",
    ))
    .expect("the catalog table exists")
}

/// Applies a change of pg_rollup's catalog on behalf of the current user: runs
/// `rollup_internal.catalog_write(op, <current user>, args)` as the catalog's owner and returns its result.
#[pg_extern(
    schema = "rollup_internal",
    name = "write_catalog",
    volatile,
    parallel_unsafe
)]
#[search_path(pg_catalog, pg_temp)]
fn write_catalog(op: &str, args: JsonB) -> Option<JsonB> {
    // SAFETY: reads the session's current user.
    let caller = unsafe { pg_sys::GetUserId() };
    let _switched = SwitchedUser::to(catalog_owner(), false);
    one(Spi::get_one_with_args::<JsonB>(
        "SELECT rollup_internal.catalog_write($1, $2, $3)",
        &[op.into(), caller.into(), args.into()],
    ))
}

/// Performs `action` of rollup `rollup_name` (see `rollup_internal.owner_action`) as the rollup's owner,
/// in a security-restricted operation, when the current user has the owner's privileges (a
/// member of the owner, or a superuser); returns the action's result.
#[pg_extern(
    schema = "rollup_internal",
    name = "as_owner",
    volatile,
    parallel_unsafe
)]
#[search_path(pg_catalog, pg_temp)]
fn as_owner(
    rollup_name: &str,
    action: &str,
    arg: default!(Option<JsonB>, "NULL"),
) -> Option<String> {
    // SAFETY: reads the session's current user.
    let caller = unsafe { pg_sys::GetUserId() };
    // Read as the caller: row-level security shows it only rollups it may act for.
    let owner = one(Spi::get_one_with_args::<pg_sys::Oid>(
        "SELECT (SELECT owner::oid FROM rollup.rollups WHERE name = $1)",
        &[rollup_name.into()],
    ));
    let Some(owner) = owner else {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("rollup \"{rollup_name}\" does not exist")
        );
    };
    // SAFETY: a catalog lookup of two role oids.
    if !unsafe { pg_sys::has_privs_of_role(caller, owner) } {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("permission denied for rollup \"{rollup_name}\""),
            format!(
                "Only members of its owner, role {}, may act on it.",
                role_name(owner)
            )
        );
    }
    let _switched = SwitchedUser::to(owner, true);
    one(Spi::get_one_with_args::<String>(
        "SELECT rollup_internal.owner_action($1, $2, $3)",
        &[rollup_name.into(), action.into(), arg.into()],
    ))
}
