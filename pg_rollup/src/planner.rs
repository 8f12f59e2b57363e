//! A planner hook for Citus' combine query.
//!
//! Citus merges the shards' results of `SELECT topn(topn_union_agg(x), 10) FROM dist` with a
//! query it builds itself and plans with `standard_planner`, without setting
//! `Query.hasTargetSRFs` (Citus issue #2265). The planner then puts no ProjectSet node under
//! the set-returning function, and execution fails with "set-valued function called in
//! context that cannot accept a set" — for `topn`, `topn_bounds` and every other SRF over an
//! aggregate. `set_rel_pathlist_hook` runs while the query's relations are planned, before
//! the target list is (grouping_planner reads the flag after query_planner): the hook sets
//! the flag when the target list does return sets. For other queries it changes nothing.
//!
//! Citus plans with its own hooks, so this one is active only when pg_rollup is loaded
//! before queries are planned: `shared_preload_libraries = 'citus,pg_rollup'` on the
//! coordinator (docs/citus.md).

use pgrx::pg_sys;
use pgrx::prelude::*;

static mut PREVIOUS: pg_sys::set_rel_pathlist_hook_type = None;

pub fn register() {
    // SAFETY: _PG_init runs once per process, before any planning.
    unsafe {
        PREVIOUS = pg_sys::set_rel_pathlist_hook;
        pg_sys::set_rel_pathlist_hook = Some(set_rel_pathlist);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn set_rel_pathlist(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    rti: pg_sys::Index,
    rte: *mut pg_sys::RangeTblEntry,
) {
    // SAFETY: the planner passes a valid root whose parse tree lives for the whole planning.
    unsafe {
        let parse = (*root).parse;
        if !parse.is_null()
            && !(*parse).hasTargetSRFs
            && pg_sys::expression_returns_set((*parse).targetList.cast())
        {
            (*parse).hasTargetSRFs = true;
        }
        if let Some(previous) = PREVIOUS {
            previous(root, rel, rti, rte);
        }
    }
}
