//! The watermark of an incremental rollup: the highest id at or below which every row of the
//! source is committed or gone, so that a run reads each row exactly once.
//!
//! Every id at or below the sequence's last value was drawn by a transaction that held a write
//! lock on the table from before it drew the id until it ended. So once every transaction
//! listed as a writer *after* the last value was read has ended, every row at or below it is
//! committed or gone. When some are still running, the pair (last value, writers) is kept as a
//! checkpoint, and the newest kept checkpoint whose writers have all ended is the bound.
//! [`safe_bound`] makes that decision; the extension reads the sequence, lists the writers and
//! asks PostgreSQL whether they ended.

use std::fmt;

use crate::{Error, Result};

/// A virtual transaction id as PostgreSQL shows it (`pg_locks.virtualtransaction`): the
/// backend id (proc number from PostgreSQL 17) and the backend's local transaction id. A
/// prepared transaction's first part is -1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vxid {
    pub backend: i32,
    pub local: u32,
}

impl Vxid {
    /// Parses `backend/local`: backend -1 (a prepared transaction) or 0 and above (PostgreSQL
    /// 17 numbers procs from 0), local not 0 (0 is the invalid id).
    pub fn parse(text: &str) -> Result<Self> {
        let parsed = text
            .split_once('/')
            .and_then(|(b, l)| Some((b.parse::<i32>().ok()?, l.parse::<u32>().ok()?)));
        match parsed {
            Some((backend, local)) if backend >= -1 && local != 0 => Ok(Vxid { backend, local }),
            _ => Err(Error::corrupt(format!(
                "invalid virtual transaction id: \"{text}\""
            ))),
        }
    }
}

impl fmt::Display for Vxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.backend, self.local)
    }
}

/// An id whose rows are safe once `writers` have all ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub id: i64,
    pub writers: Vec<Vxid>,
}

/// At most this many checkpoints are kept (the newest): a writer that never ends holds every
/// later checkpoint back, and the list must not grow a run at a time forever.
pub const MAX_CHECKPOINTS: usize = 100;

/// What a run may read, and what it keeps for the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// Every row with an id at or below it is committed or gone (None: no id known to be).
    pub safe: Option<i64>,
    /// The checkpoints above `safe` that are still waiting for writers, newest first.
    pub checkpoints: Vec<Checkpoint>,
}

/// The bound of a run: `last_id` is the sequence's last drawn id, `writers` the transactions
/// that held a write lock on the table when listed after `last_id` was read, `checkpoints`
/// those kept by earlier runs. `ended(writers, wait)` says whether all of `writers` have ended,
/// waiting for them (a bounded time) when `wait`: only for the current writers, whose end
/// makes the newest id safe; kept checkpoints are only looked at.
pub fn safe_bound(
    last_id: i64,
    writers: Vec<Vxid>,
    checkpoints: &[Checkpoint],
    mut ended: impl FnMut(&[Vxid], bool) -> bool,
) -> Bound {
    if ended(&writers, true) {
        return Bound {
            safe: Some(last_id),
            checkpoints: Vec::new(),
        };
    }
    let mut kept = vec![Checkpoint {
        id: last_id,
        writers,
    }];
    let mut older: Vec<&Checkpoint> = checkpoints.iter().collect();
    older.sort_by_key(|c| std::cmp::Reverse(c.id));
    for cp in older {
        if ended(&cp.writers, false) {
            return Bound {
                safe: Some(cp.id),
                checkpoints: kept,
            };
        }
        if kept.len() < MAX_CHECKPOINTS {
            kept.push(cp.clone());
        }
    }
    Bound {
        safe: None,
        checkpoints: kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(backend: i32, local: u32) -> Vxid {
        Vxid { backend, local }
    }

    fn cp(id: i64, writers: &[Vxid]) -> Checkpoint {
        Checkpoint {
            id,
            writers: writers.to_vec(),
        }
    }

    #[test]
    fn vxids_read_back_what_they_show() {
        for x in [v(3, 1234), v(-1, 7), v(0, 1), v(i32::MAX, u32::MAX)] {
            assert_eq!(Vxid::parse(&x.to_string()), Ok(x));
        }
        for bad in [
            "", "3", "3/", "/4", "3/0", "-2/5", "a/b", "3/4/5", " 3/4", "3/-4",
        ] {
            assert!(Vxid::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn no_writers_left_makes_the_last_id_safe_and_drops_checkpoints() {
        let b = safe_bound(500, vec![v(3, 9)], &[cp(400, &[v(4, 1)])], |_, _| true);
        assert_eq!(
            b,
            Bound {
                safe: Some(500),
                checkpoints: vec![]
            }
        );
    }

    #[test]
    fn only_the_current_writers_are_waited_for() {
        let mut asked = Vec::new();
        safe_bound(
            500,
            vec![v(3, 9)],
            &[cp(400, &[v(4, 1)]), cp(450, &[v(5, 1)])],
            |w, wait| {
                asked.push((w.to_vec(), wait));
                false
            },
        );
        assert_eq!(
            asked,
            vec![
                (vec![v(3, 9)], true),
                (vec![v(5, 1)], false),
                (vec![v(4, 1)], false)
            ]
        );
    }

    #[test]
    fn the_newest_checkpoint_whose_writers_ended_is_the_bound() {
        // Writers of 450 still run, those of 400 and 300 ended: 400 is safe, and 300 (below it)
        // is dropped while 450 is kept behind the new checkpoint.
        let running = [v(3, 9), v(5, 1)];
        let b = safe_bound(
            500,
            vec![v(3, 9)],
            &[
                cp(300, &[v(6, 1)]),
                cp(450, &[v(5, 1)]),
                cp(400, &[v(4, 1)]),
            ],
            |w, _| !w.iter().any(|x| running.contains(x)),
        );
        assert_eq!(
            b,
            Bound {
                safe: Some(400),
                checkpoints: vec![cp(500, &[v(3, 9)]), cp(450, &[v(5, 1)])]
            }
        );
    }

    #[test]
    fn nothing_is_safe_while_every_checkpoint_waits() {
        let b = safe_bound(500, vec![v(3, 9)], &[cp(400, &[v(3, 9)])], |_, _| false);
        assert_eq!(b.safe, None);
        assert_eq!(
            b.checkpoints,
            vec![cp(500, &[v(3, 9)]), cp(400, &[v(3, 9)])]
        );
    }

    #[test]
    fn at_most_max_checkpoints_are_kept_the_newest() {
        let old: Vec<Checkpoint> = (0..250).map(|i| cp(i, &[v(1, 1)])).collect();
        let b = safe_bound(1000, vec![v(1, 1)], &old, |_, _| false);
        assert_eq!(b.checkpoints.len(), MAX_CHECKPOINTS);
        assert_eq!(b.checkpoints[0].id, 1000);
        assert_eq!(b.checkpoints[1].id, 249);
        assert_eq!(
            b.checkpoints[MAX_CHECKPOINTS - 1].id,
            250 - (MAX_CHECKPOINTS as i64 - 1)
        );
    }

    #[test]
    fn an_empty_writer_list_has_ended() {
        // (What the extension asks when no transaction holds a write lock.)
        let b = safe_bound(7, vec![], &[], |w, _| w.is_empty());
        assert_eq!(b.safe, Some(7));
    }
}
