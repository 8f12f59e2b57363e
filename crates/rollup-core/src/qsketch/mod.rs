//! `qsketch`: a quantile sketch with a guaranteed relative error (the DDSketch family, with
//! UddSketch's uniform collapse).
//!
//! A value `x > 0` is counted in bin `k = ceil(log_γ x)` with `γ = (1 + α) / (1 - α)`; the bin
//! stands for `2γ^k / (γ + 1)`, which is within `α` (relative) of every value of the bin
//! `(γ^(k-1), γ^k]`. Negative values are counted the same way by magnitude in a second store,
//! zeros (and subnormal values) in a count of their own. So the value a quantile query returns is
//! within `α` of the exact one: the sketch finds the bin that holds the exact quantile's element
//! (counts are exact), and that bin's value is within `α` of every element it holds.
//!
//! Memory is bounded: each sign keeps at most [`MAX_BINS`] consecutive bins. Values spread over
//! more bins than that (at α = 1 %, over more than 17 orders of magnitude) make the sketch
//! collapse: bins merge pairwise (`γ` becomes `γ²`, α becomes `2α / (1 + α²)`, about twice as
//! much), as often as needed, so that every quantile keeps a guarantee, the one
//! [`QSketch::relative_accuracy`] reports. Merging brings both sketches to the coarser level and
//! adds the counts bin by bin, collapsing if the union needs it: the result is the sketch of all
//! the values, whatever the order of the merges (the count, minimum and maximum are exact; the
//! sum is a float sum, whose last digits can depend on that order).

pub mod codec;
#[cfg(test)]
mod tests;

use allocator_api2::alloc::{Allocator, Global};
use allocator_api2::vec::Vec;

use crate::error::{Error, Result};

/// Bins kept per sign.
pub const MAX_BINS: usize = 2048;
pub const DEFAULT_ACCURACY: f64 = 0.01;
pub const MIN_ACCURACY: f64 = 0.0001;
pub const MAX_ACCURACY: f64 = 0.5;

/// Raises unless `alpha` is a relative accuracy a sketch can have.
pub fn check_accuracy(alpha: f64) -> Result<f64> {
    if (MIN_ACCURACY..=MAX_ACCURACY).contains(&alpha) {
        Ok(alpha)
    } else {
        Err(Error::invalid_parameter(format!(
            "relative accuracy must be between {MIN_ACCURACY} and {MAX_ACCURACY}, not {alpha}"
        )))
    }
}

/// Non-empty bins a sign keeps sparse (as key and count pairs, 2 kB) before it turns dense: the
/// many small groups of a GROUP BY stay small, larger sketches index their bins directly.
const SPARSE_MAX: usize = 256;

/// The bins of one sign: sparse (the non-empty bins in key order) while there are at most
/// [`SPARSE_MAX`] of them with counts that fit in 32 bits, then dense (the counts of
/// consecutive keys from `offset`). One of `sparse` and `dense` is empty.
#[derive(Clone, Debug)]
pub struct Store<A: Allocator + Clone> {
    sparse: Vec<(i32, u32), A>,
    offset: i32,
    dense: Vec<u64, A>,
}

impl<A: Allocator + Clone> Store<A> {
    fn new_in(alloc: A) -> Self {
        Store {
            sparse: Vec::new_in(alloc.clone()),
            offset: 0,
            dense: Vec::new_in(alloc),
        }
    }

    fn is_sparse(&self) -> bool {
        self.dense.is_empty()
    }

    /// The non-empty bins in key order, as (key, count).
    pub fn bins(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        let sparse = self.sparse.iter().map(|&(k, c)| (k, u64::from(c)));
        let dense = self.dense.iter().enumerate();
        let dense = dense.map(|(i, &c)| (self.offset + i as i32, c));
        sparse.chain(dense.filter(|&(_, c)| c != 0))
    }

    /// The lowest and highest keys (None when empty).
    fn span(&self) -> Option<(i32, i32)> {
        if self.is_sparse() {
            Some((self.sparse.first()?.0, self.sparse.last()?.0))
        } else {
            Some((self.offset, self.offset + self.dense.len() as i32 - 1))
        }
    }

    /// Turns the bins dense.
    fn densify(&mut self) {
        let Some((low, top)) = self.span().filter(|_| self.is_sparse()) else {
            return;
        };
        let alloc = self.sparse.allocator().clone();
        let mut dense = Vec::with_capacity_in((top - low + 1) as usize, alloc.clone());
        dense.resize((top - low + 1) as usize, 0u64);
        for &(k, c) in self.sparse.iter() {
            dense[(k - low) as usize] = u64::from(c);
        }
        self.offset = low;
        self.dense = dense;
        self.sparse = Vec::new_in(alloc);
    }

    /// Adds `n` to bin `key` (the caller made room: the span stays within MAX_BINS).
    fn add(&mut self, key: i32, n: u64) {
        if self.is_sparse() {
            let n32 = u32::try_from(n).ok();
            match self.sparse.binary_search_by_key(&key, |&(k, _)| k) {
                Ok(i) => {
                    if let Some(c) = n32.and_then(|n| self.sparse[i].1.checked_add(n)) {
                        self.sparse[i].1 = c;
                        return;
                    }
                }
                Err(i) if self.sparse.len() < SPARSE_MAX => {
                    if let Some(n) = n32 {
                        self.sparse.insert(i, (key, n));
                        return;
                    }
                }
                Err(_) => {}
            }
            self.densify();
        }
        match self.span() {
            Some((_, top)) if key > top => {
                self.grow((key - top) as usize);
                self.dense
                    .resize(self.dense.len() + (key - top) as usize, 0)
            }
            Some((low, _)) if key < low => {
                self.grow((low - key) as usize);
                self.dense
                    .splice(0..0, std::iter::repeat_n(0, (low - key) as usize));
                self.offset = key;
            }
            Some(_) => {}
            None => self.offset = key,
        }
        if self.dense.is_empty() {
            self.dense.push(0);
        }
        let at = (key - self.offset) as usize;
        self.dense[at] = self.dense[at].saturating_add(n);
    }

    /// Makes room for `more` dense bins: to a power of two of them, which is the size of the
    /// memory an allocator like PostgreSQL's gives for the request anyway (a vector's doubling
    /// of its capacity would double the memory: the first capacity is the span's, exactly).
    fn grow(&mut self, more: usize) {
        let len = self.dense.len() + more;
        if len > self.dense.capacity() {
            self.dense
                .reserve_exact(len.next_power_of_two() - self.dense.len());
        }
    }

    /// Merges bins pairwise `levels` times: bin `k` goes to `ceil(k / 2^levels)`.
    fn collapse(&mut self, levels: u32) {
        let total: u64 = self.sparse.iter().map(|&(_, c)| u64::from(c)).sum();
        if total > u64::from(u32::MAX) {
            self.densify();
        }
        if self.is_sparse() {
            // Keys stay in order: merge neighbours that land in the same bin.
            let mut kept = 0;
            for i in 0..self.sparse.len() {
                let (k, c) = self.sparse[i];
                let k = coarser(k, levels);
                if kept > 0 && self.sparse[kept - 1].0 == k {
                    self.sparse[kept - 1].1 += c;
                } else {
                    self.sparse[kept] = (k, c);
                    kept += 1;
                }
            }
            self.sparse.truncate(kept);
            return;
        }
        let Some((low, top)) = self.span() else {
            return;
        };
        let (new_low, new_top) = (coarser(low, levels), coarser(top, levels));
        let mut dense = Vec::with_capacity_in(
            (new_top - new_low + 1) as usize,
            self.dense.allocator().clone(),
        );
        dense.resize((new_top - new_low + 1) as usize, 0u64);
        for (k, c) in self.bins() {
            let at = (coarser(k, levels) - new_low) as usize;
            dense[at] = dense[at].saturating_add(c);
        }
        self.offset = new_low;
        self.dense = dense;
    }
}

/// Key `k`'s bin after `levels` pairwise collapses: `ceil(k / 2^levels)`.
fn coarser(k: i32, levels: u32) -> i32 {
    if levels == 0 {
        return k;
    }
    -((-k) >> levels.min(31))
}

/// Whether keys `low..=top` fit in MAX_BINS bins.
fn fits(low: i32, top: i32) -> bool {
    i64::from(top) - i64::from(low) < MAX_BINS as i64
}

/// A quantile sketch.
#[derive(Clone, Debug)]
pub struct QSketch<A: Allocator + Clone> {
    /// The accuracy asked for, and ln γ for it.
    alpha: f64,
    ln_gamma0: f64,
    /// Pairwise collapses so far, and ln γ after them (ln_gamma0 × 2^level).
    level: u32,
    ln_gamma: f64,
    pos: Store<A>,
    neg: Store<A>,
    zero: u64,
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
}

/// The magnitude below which a value is counted as zero: the smallest normal double (its key
/// stays far inside i32 at every accuracy).
const MIN_MAGNITUDE: f64 = f64::MIN_POSITIVE;

/// More collapses than a stored sketch may have (a dozen bring the keys of all finite values
/// into MAX_BINS bins).
pub const MAX_LEVEL: u32 = 24;

fn ln_gamma(alpha: f64) -> f64 {
    ((1.0 + alpha) / (1.0 - alpha)).ln()
}

impl QSketch<Global> {
    pub fn new(alpha: f64) -> Result<Self> {
        QSketch::new_in(alpha, Global)
    }
}

impl<A: Allocator + Clone> QSketch<A> {
    pub fn new_in(alpha: f64, alloc: A) -> Result<Self> {
        let alpha = check_accuracy(alpha)?;
        Ok(QSketch {
            alpha,
            ln_gamma0: ln_gamma(alpha),
            level: 0,
            ln_gamma: ln_gamma(alpha),
            pos: Store::new_in(alloc.clone()),
            neg: Store::new_in(alloc),
            zero: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
        })
    }

    /// The accuracy asked for when the sketch was made.
    pub fn base_accuracy(&self) -> f64 {
        self.alpha
    }
    /// The pairwise collapses the spread of the values needed.
    pub fn level(&self) -> u32 {
        self.level
    }
    /// The relative accuracy every quantile has: the one asked for, unless the values spread
    /// over more than MAX_BINS bins of it.
    pub fn relative_accuracy(&self) -> f64 {
        let gamma = self.ln_gamma.exp();
        if gamma.is_finite() {
            (gamma - 1.0) / (gamma + 1.0)
        } else {
            1.0
        }
    }
    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn zero_count(&self) -> u64 {
        self.zero
    }
    pub fn sum(&self) -> f64 {
        self.sum
    }
    /// The smallest and largest values (None when empty).
    pub fn min_max(&self) -> Option<(f64, f64)> {
        (self.count > 0).then_some((self.min, self.max))
    }
    pub fn positive(&self) -> &Store<A> {
        &self.pos
    }
    pub fn negative(&self) -> &Store<A> {
        &self.neg
    }

    /// The value bin `key` stands for.
    fn value(&self, key: i32) -> f64 {
        2.0 * (self.ln_gamma * f64::from(key)).exp() / (1.0 + self.ln_gamma.exp())
    }

    /// Collapses until the level is at least `extra_level` and both stores, with the keys
    /// `extra` (negative, positive; at `extra_level`) added, fit in MAX_BINS bins.
    fn make_room(&mut self, extra_level: u32, extra: [Option<(i32, i32)>; 2]) {
        let spans = [self.neg.span(), self.pos.span()];
        let at = |s: Option<(i32, i32)>, from: u32, to: u32| {
            s.map(|(l, t)| (coarser(l, to - from), coarser(t, to - from)))
        };
        let mut target = extra_level.max(self.level);
        while !spans.iter().zip(extra).all(|(&have, add)| {
            match (at(have, self.level, target), at(add, extra_level, target)) {
                (Some((l1, t1)), Some((l2, t2))) => fits(l1.min(l2), t1.max(t2)),
                (Some((l, t)), None) | (None, Some((l, t))) => fits(l, t),
                (None, None) => true,
            }
        }) {
            target += 1;
        }
        if target > self.level {
            self.pos.collapse(target - self.level);
            self.neg.collapse(target - self.level);
            self.level = target;
            self.ln_gamma = self.ln_gamma0 * f64::from(1u32 << target.min(30));
        }
    }

    /// Adds `n` occurrences of `x` (22023 for NaN or an infinity: they have no quantile).
    pub fn add(&mut self, x: f64, n: u64) -> Result<()> {
        if !x.is_finite() {
            return Err(Error::invalid_parameter(format!(
                "qsketch cannot count {x}: only finite values have quantiles"
            )));
        }
        if n == 0 {
            return Ok(());
        }
        if x.abs() < MIN_MAGNITUDE {
            self.zero = self.zero.saturating_add(n);
        } else {
            let k0 = (x.abs().ln() / self.ln_gamma0).ceil() as i32;
            let k = coarser(k0, self.level);
            let store = if x > 0.0 { &self.pos } else { &self.neg };
            if store.span().is_some_and(|(l, t)| !fits(l.min(k), t.max(k))) {
                let span = Some((k0, k0));
                self.make_room(0, if x > 0.0 { [None, span] } else { [span, None] });
            }
            let k = coarser(k0, self.level);
            let store = if x > 0.0 {
                &mut self.pos
            } else {
                &mut self.neg
            };
            store.add(k, n);
        }
        self.count = self.count.saturating_add(n);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        self.sum += x * n as f64;
        Ok(())
    }

    fn check_mergeable(&self, alpha: f64) -> Result<()> {
        if alpha.to_bits() != self.alpha.to_bits() {
            return Err(Error::mismatch(format!(
                "cannot merge qsketches made with relative accuracy {} and {alpha}",
                self.alpha
            )));
        }
        Ok(())
    }

    fn merge_parts(&mut self, parts: &codec::Parts) {
        let span = |offset: i32, bins: &[u64]| {
            (!bins.is_empty()).then(|| (offset, offset + bins.len() as i32 - 1))
        };
        self.make_room(
            parts.level,
            [
                span(parts.neg_offset, &parts.neg),
                span(parts.pos_offset, &parts.pos),
            ],
        );
        let shift = self.level - parts.level;
        for (store, offset, bins) in [
            (&mut self.neg, parts.neg_offset, &parts.neg),
            (&mut self.pos, parts.pos_offset, &parts.pos),
        ] {
            for (i, &c) in bins.iter().enumerate() {
                if c != 0 {
                    store.add(coarser(offset + i as i32, shift), c);
                }
            }
        }
        self.zero = self.zero.saturating_add(parts.zero);
        self.count = self.count.saturating_add(parts.count);
        if parts.count > 0 {
            self.min = self.min.min(parts.min);
            self.max = self.max.max(parts.max);
            self.sum += parts.sum;
        }
    }

    /// A sketch holding decoded sketch `parts`, whose memory comes from `alloc`.
    pub fn from_parts_in(parts: &codec::Parts, alloc: A) -> Self {
        let mut s = QSketch::new_in(parts.alpha, alloc).expect("decode checked the accuracy");
        s.merge_parts(parts);
        s
    }

    /// Merges a decoded sketch made with the same accuracy in (42804 otherwise).
    pub fn union_parts(&mut self, parts: &codec::Parts) -> Result<()> {
        self.check_mergeable(parts.alpha)?;
        self.merge_parts(parts);
        Ok(())
    }

    /// Merges another sketch made with the same accuracy in (42804 otherwise).
    pub fn union(&mut self, other: &QSketch<A>) -> Result<()> {
        self.union_parts(&codec::Parts::of(other))
    }

    /// The bins in the order of their values (negative from the largest magnitude, the zeros,
    /// positive), each as the value it stands for and its count.
    fn bins_in_order(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let negative = self.neg.bins().rev().map(|(k, c)| (-self.value(k), c));
        let positive = self.pos.bins().map(|(k, c)| (self.value(k), c));
        negative
            .chain((self.zero > 0).then_some((0.0, self.zero)))
            .chain(positive)
    }

    /// The value at quantile `q` in [0, 1]: within the relative accuracy of the `q` quantile
    /// of the values counted as `percentile_disc` defines it (the smallest value whose
    /// cumulative share reaches q); None when empty.
    pub fn quantile(&self, q: f64) -> Result<Option<f64>> {
        if !(0.0..=1.0).contains(&q) {
            return Err(Error::invalid_parameter(format!(
                "quantile must be between 0 and 1, not {q}"
            )));
        }
        if self.count == 0 {
            return Ok(None);
        }
        // 0-based rank of the element percentile_disc returns.
        let rank = ((q * self.count as f64).ceil() as u64)
            .saturating_sub(1)
            .min(self.count - 1);
        let mut seen = 0u64;
        for (value, c) in self.bins_in_order() {
            seen += c;
            if rank < seen {
                return Ok(Some(self.clamp(value)));
            }
        }
        Ok(Some(self.max))
    }

    /// The exact minimum and maximum bound every estimate (and bring it closer to the truth).
    fn clamp(&self, v: f64) -> f64 {
        v.clamp(self.min, self.max)
    }

    /// The share of the values at or below `x` (within the values of the bin `x` falls in);
    /// None when empty.
    pub fn rank(&self, x: f64) -> Result<Option<f64>> {
        if x.is_nan() {
            return Err(Error::invalid_parameter("qsketch rank of NaN"));
        }
        if self.count == 0 {
            return Ok(None);
        }
        if x < self.min {
            return Ok(Some(0.0));
        }
        if x >= self.max {
            return Ok(Some(1.0));
        }
        let below: u64 = self
            .bins_in_order()
            .filter(|&(value, _)| value <= x)
            .map(|(_, c)| c)
            .sum();
        Ok(Some(below as f64 / self.count as f64))
    }
}
