//! HyperLogLog with postgresql-hll's semantics: the same parameters, the same transitions
//! between representations (empty → explicit → registers), hence the same stored bytes.
//!
//! In memory the state grows with its content: an explicit sorted set of hashes, then sparse
//! registers (4 bytes per non-zero register), then dense registers (one byte each). How a
//! state is laid out in memory never changes what it encodes to: the storage format depends
//! only on the explicit set or the register values.

pub mod codec;
pub mod estimator;

use allocator_api2::alloc::{Allocator, Global};
use allocator_api2::vec::Vec;

use crate::error::{Error, Result};

/// Largest log2m: 2^17 one-byte registers, postgresql-hll's limit.
pub const MAX_LOG2M: i64 = 17;
/// Largest register width a sketch can be created with (3 bits in the typmod).
pub const MAX_REGWIDTH: i64 = 7;
/// Largest explicit threshold: the largest power of two postgresql-hll accepts.
pub const MAX_EXPTHRESH: i64 = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HllParams {
    pub log2m: u8,
    pub regwidth: u8,
    /// -1 = automatic, 0 = no explicit representation, else a power of two.
    pub expthresh: i64,
    pub sparseon: bool,
}

impl Default for HllParams {
    fn default() -> Self {
        HllParams {
            log2m: 11,
            regwidth: 5,
            expthresh: -1,
            sparseon: true,
        }
    }
}

impl HllParams {
    /// Validates user-supplied parameters (typmod, hll_empty, hll_add_agg, hll_set_defaults).
    pub fn new(log2m: i64, regwidth: i64, expthresh: i64, sparseon: i64) -> Result<Self> {
        if !(0..=MAX_LOG2M).contains(&log2m) {
            return Err(Error::invalid_parameter(format!(
                "log2m modifier must be between 0 and {MAX_LOG2M}, not {log2m}"
            )));
        }
        if !(1..=MAX_REGWIDTH).contains(&regwidth) {
            return Err(Error::invalid_parameter(format!(
                "regwidth modifier must be between 1 and {MAX_REGWIDTH}, not {regwidth}"
            )));
        }
        if !(expthresh == -1
            || expthresh == 0
            || (expthresh > 0 && expthresh <= MAX_EXPTHRESH && expthresh.count_ones() == 1))
        {
            return Err(Error::invalid_parameter(format!(
                "expthresh modifier must be -1, 0 or a power of 2 up to {MAX_EXPTHRESH}, not {expthresh}"
            )));
        }
        if !(sparseon == 0 || sparseon == 1) {
            return Err(Error::invalid_parameter(format!(
                "sparseon modifier must be 0 or 1, not {sparseon}"
            )));
        }
        Ok(HllParams {
            log2m: log2m as u8,
            regwidth: regwidth as u8,
            expthresh,
            sparseon: sparseon == 1,
        })
    }

    #[inline]
    pub fn registers(&self) -> usize {
        1usize << self.log2m
    }

    #[inline]
    pub fn max_register_value(&self) -> u8 {
        ((1u16 << self.regwidth) - 1) as u8
    }

    /// How many hashes the explicit representation holds before it turns into registers.
    /// Automatic: as many 8-byte hashes as fit in the size of the full register array.
    pub fn explicit_limit(&self) -> usize {
        if self.expthresh == -1 {
            (self.registers() * self.regwidth as usize).div_ceil(8) / 8
        } else {
            self.expthresh as usize
        }
    }

    /// The 6-bit code of the explicit threshold in the typmod and in the header's cutoff byte.
    pub fn expthresh_code(&self) -> u8 {
        match self.expthresh {
            -1 => 63,
            0 => 0,
            t => t.trailing_zeros() as u8 + 1,
        }
    }

    pub fn expthresh_from_code(code: u8) -> i64 {
        match code {
            63 => -1,
            0 => 0,
            c => 1i64 << (c - 1),
        }
    }

    /// The typmod layout postgresql-hll uses: log2m(5) regwidth(3) expthresh code(6) sparseon(1).
    pub fn to_typmod(&self) -> i32 {
        (i32::from(self.log2m) << 10)
            | (i32::from(self.regwidth) << 7)
            | (i32::from(self.expthresh_code()) << 1)
            | i32::from(self.sparseon)
    }

    pub fn from_typmod(typmod: i32) -> Result<Self> {
        if !(0..1 << 15).contains(&typmod) {
            return Err(Error::invalid_parameter(format!(
                "invalid hll type modifier {typmod}"
            )));
        }
        let code = ((typmod >> 1) & 0x3f) as u8;
        Self::new(
            i64::from((typmod >> 10) & 0x1f),
            i64::from((typmod >> 7) & 0x7),
            Self::expthresh_from_code(code),
            i64::from(typmod & 1),
        )
    }

    /// Errors unless two sketches can be combined, with postgresql-hll's wording.
    pub fn check_compatible(&self, source: &HllParams) -> Result<()> {
        let mismatch = |what: &str, src: String, dst: String| {
            Err(Error::mismatch(format!(
                "{what} does not match: source uses {src} and dest uses {dst}"
            )))
        };
        if self.regwidth != source.regwidth {
            return mismatch(
                "register width",
                source.regwidth.to_string(),
                self.regwidth.to_string(),
            );
        }
        if self.log2m != source.log2m {
            return mismatch(
                "register count",
                source.registers().to_string(),
                self.registers().to_string(),
            );
        }
        if self.expthresh != source.expthresh {
            return mismatch(
                "explicit threshold",
                source.expthresh.to_string(),
                self.expthresh.to_string(),
            );
        }
        if self.sparseon != source.sparseon {
            return mismatch(
                "sparse enable",
                u8::from(source.sparseon).to_string(),
                u8::from(self.sparseon).to_string(),
            );
        }
        Ok(())
    }

    /// Register index and value a 64-bit hash sets: the low log2m bits pick the register, the
    /// value is one more than the number of trailing zeros of the rest, capped by the width.
    /// A hash whose remaining bits are all zero sets nothing (value 0), as in postgresql-hll.
    #[inline(always)]
    pub fn register_update(&self, hash: i64) -> (u32, u8) {
        let hash = hash as u64;
        let index = (hash & (self.registers() as u64 - 1)) as u32;
        let rest = hash >> self.log2m;
        let value = if rest == 0 {
            0
        } else {
            (rest.trailing_zeros() + 1).min(u32::from(self.max_register_value()))
        };
        (index, value as u8)
    }
}

/// Which representation a sketch is in, as `hll_type` reports it for stored values
/// (registers are stored as SPARSE or FULL depending on their fill).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Undefined,
    Empty,
    Explicit,
    Registers,
}

/// A sparse register entry: index in the high 24 bits, value in the low 8.
#[inline(always)]
fn sparse_entry(index: u32, value: u8) -> u32 {
    (index << 8) | u32::from(value)
}

pub enum Repr<A: Allocator> {
    Undefined,
    Empty,
    /// Distinct hashes in ascending signed order (the order postgresql-hll and java-hll store).
    Explicit(Vec<i64, A>),
    /// Non-zero registers as `index << 8 | value`, ascending by index.
    Sparse(Vec<u32, A>),
    /// One byte per register.
    Dense(Vec<u8, A>),
}

pub struct Hll<A: Allocator + Clone = Global> {
    params: HllParams,
    repr: Repr<A>,
    alloc: A,
}

/// Something whose content can be merged into an [`Hll`]: an in-memory sketch or a
/// decoded view of stored bytes.
pub trait HllSource {
    fn params(&self) -> HllParams;
    fn kind(&self) -> Kind;
    /// Number of explicit hashes (0 unless the kind is `Explicit`).
    fn explicit_len(&self) -> usize;
    /// The explicit hashes in ascending order.
    fn for_each_explicit(&self, f: impl FnMut(i64));
    /// The non-zero registers, ascending by index.
    fn for_each_register(&self, f: impl FnMut(u32, u8));
    /// Roughly how many registers are non-zero: decides whether a copy starts dense.
    fn filled_hint(&self) -> usize;
    /// Raises each of `regs` (one byte per register) to at least this sketch's register.
    fn max_into_dense(&self, regs: &mut [u8]) {
        self.for_each_register(|i, v| {
            let r = &mut regs[i as usize];
            *r = (*r).max(v);
        });
    }
}

impl Hll<Global> {
    pub fn new(params: HllParams) -> Self {
        Hll::new_in(params, Global)
    }
}

impl<A: Allocator + Clone> Hll<A> {
    pub fn new_in(params: HllParams, alloc: A) -> Self {
        Hll {
            params,
            repr: Repr::Empty,
            alloc,
        }
    }

    pub fn undefined_in(params: HllParams, alloc: A) -> Self {
        Hll {
            params,
            repr: Repr::Undefined,
            alloc,
        }
    }

    /// A copy of `source` whose memory comes from `alloc`.
    pub fn from_source_in(source: &impl HllSource, alloc: A) -> Self {
        let mut hll = Hll::new_in(source.params(), alloc);
        hll.copy_from(source);
        hll
    }

    pub fn params(&self) -> HllParams {
        self.params
    }

    pub fn repr(&self) -> &Repr<A> {
        &self.repr
    }

    /// Bytes of memory the content holds (for the planner and memory tests).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Undefined | Repr::Empty => 0,
            Repr::Explicit(v) => v.capacity() * 8,
            Repr::Sparse(v) => v.capacity() * 4,
            Repr::Dense(v) => v.capacity(),
        }
    }

    /// Adds one hashed value (hll_add, hll_add_agg).
    pub fn add_hash(&mut self, hash: i64) {
        match &mut self.repr {
            Repr::Undefined => {}
            Repr::Empty => {
                if self.params.explicit_limit() == 0 {
                    self.repr = Repr::Sparse(Vec::new_in(self.alloc.clone()));
                    self.add_to_registers(hash);
                } else {
                    // Room for the small groups of a many-group GROUP BY without regrowing.
                    let mut v = Vec::with_capacity_in(8, self.alloc.clone());
                    v.push(hash);
                    self.repr = Repr::Explicit(v);
                }
            }
            Repr::Explicit(v) => match v.binary_search(&hash) {
                Ok(_) => {}
                Err(pos) if v.len() < self.params.explicit_limit() => v.insert(pos, hash),
                Err(_) => {
                    self.explicit_to_registers();
                    self.add_to_registers(hash);
                }
            },
            Repr::Sparse(_) | Repr::Dense(_) => self.add_to_registers(hash),
        }
    }

    /// Adds a hash if the registers are dense and reports whether it did: the per-row fast
    /// path, which neither allocates nor can panic.
    #[inline(always)]
    pub fn add_hash_if_dense(&mut self, hash: i64) -> bool {
        if let Repr::Dense(regs) = &mut self.repr {
            let (index, value) = self.params.register_update(hash);
            if let Some(r) = regs.get_mut(index as usize) {
                if *r < value {
                    *r = value;
                }
            }
            true
        } else {
            false
        }
    }

    #[inline(always)]
    fn add_to_registers(&mut self, hash: i64) {
        let (index, value) = self.params.register_update(hash);
        if value != 0 {
            self.set_register_max(index, value);
        }
    }

    #[inline(always)]
    fn set_register_max(&mut self, index: u32, value: u8) {
        match &mut self.repr {
            Repr::Dense(regs) => {
                let r = &mut regs[index as usize];
                if *r < value {
                    *r = value;
                }
            }
            Repr::Sparse(entries) => {
                match entries.binary_search_by_key(&index, |e| e >> 8) {
                    Ok(pos) => {
                        if (entries[pos] & 0xff) < u32::from(value) {
                            entries[pos] = sparse_entry(index, value);
                        }
                    }
                    Err(pos) => {
                        entries.insert(pos, sparse_entry(index, value));
                        // Four bytes per sparse entry: past a quarter of the registers, dense is smaller.
                        if entries.len() * 4 > self.params.registers() {
                            self.sparse_to_dense();
                        }
                    }
                }
            }
            Repr::Undefined | Repr::Empty | Repr::Explicit(_) => {
                unreachable!("not a register representation")
            }
        }
    }

    fn sparse_to_dense(&mut self) {
        let mut dense = self.zeroed_dense();
        if let (Repr::Sparse(entries), Repr::Dense(regs)) = (&self.repr, &mut dense) {
            for &e in entries.iter() {
                regs[(e >> 8) as usize] = (e & 0xff) as u8;
            }
        }
        self.repr = dense;
    }

    /// Empty register representation: sparse when that can be smaller than dense.
    fn empty_registers(&self) -> Repr<A> {
        if self.params.registers() <= 64 {
            self.zeroed_dense()
        } else {
            Repr::Sparse(Vec::new_in(self.alloc.clone()))
        }
    }

    fn explicit_to_registers(&mut self) {
        let old = std::mem::replace(&mut self.repr, Repr::Empty);
        self.repr = self.empty_registers();
        if let Repr::Explicit(hashes) = old {
            for &h in hashes.iter() {
                self.add_to_registers(h);
            }
        }
    }

    /// Replaces the content with a copy of `source`'s (parameters already equal).
    fn copy_from(&mut self, source: &impl HllSource) {
        self.repr = match source.kind() {
            Kind::Undefined => Repr::Undefined,
            Kind::Empty => Repr::Empty,
            Kind::Explicit => {
                let mut v = Vec::with_capacity_in(source.explicit_len(), self.alloc.clone());
                source.for_each_explicit(|h| v.push(h));
                Repr::Explicit(v)
            }
            Kind::Registers if source.filled_hint() * 4 > self.params.registers() => {
                self.zeroed_dense()
            }
            Kind::Registers => self.empty_registers(),
        };
        if source.kind() == Kind::Registers {
            self.union_registers(source);
        }
    }

    fn zeroed_dense(&self) -> Repr<A> {
        let mut regs = Vec::with_capacity_in(self.params.registers(), self.alloc.clone());
        regs.resize(self.params.registers(), 0u8);
        Repr::Dense(regs)
    }

    /// Register-wise maximum with `source`'s registers (self already holds registers).
    fn union_registers(&mut self, source: &impl HllSource) {
        if let Repr::Sparse(entries) = &self.repr {
            if (entries.len() + source.filled_hint()) * 4 > self.params.registers() {
                self.sparse_to_dense();
            }
        }
        match &mut self.repr {
            Repr::Dense(regs) => source.max_into_dense(regs),
            _ => {
                let mut theirs = std::vec::Vec::with_capacity(source.filled_hint());
                source.for_each_register(|i, v| theirs.push(sparse_entry(i, v)));
                self.merge_sparse(theirs);
            }
        }
    }

    /// Sets sparse registers to the maximum of theirs and `theirs` (entries in any order, an
    /// index possibly more than once) in one merge of sorted lists: inserting them one by one
    /// moves the entries after each. Ends dense if the result is over a quarter of the registers,
    /// as inserting them one by one would.
    fn merge_sparse(&mut self, mut theirs: std::vec::Vec<u32>) {
        let Repr::Sparse(mine) = &self.repr else {
            unreachable!("not a sparse representation")
        };
        theirs.sort_unstable();
        let mut merged: Vec<u32, A> =
            Vec::with_capacity_in(mine.len() + theirs.len(), self.alloc.clone());
        let (mut a, mut b) = (mine.iter().peekable(), theirs.iter().peekable());
        loop {
            let e = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x >> 8 <= y >> 8 => {
                    a.next();
                    x
                }
                (_, Some(&&y)) => {
                    b.next();
                    y
                }
                (Some(&&x), None) => {
                    a.next();
                    x
                }
                (None, None) => break,
            };
            match merged.last_mut() {
                Some(last) if *last >> 8 == e >> 8 => *last = (*last).max(e),
                _ => merged.push(e),
            }
        }
        let dense = merged.len() * 4 > self.params.registers();
        self.repr = Repr::Sparse(merged);
        if dense {
            self.sparse_to_dense();
        }
    }

    /// Union with postgresql-hll's rules (hll_union, hll_union_agg): undefined absorbs
    /// everything; an explicit result stays explicit while it fits under the threshold.
    pub fn union(&mut self, other: &impl HllSource) -> Result<()> {
        self.params.check_compatible(&other.params())?;
        match (&mut self.repr, other.kind()) {
            (Repr::Undefined, _) => {}
            (_, Kind::Undefined) => self.repr = Repr::Undefined,
            (_, Kind::Empty) => {}
            (Repr::Empty, _) => self.copy_from(other),
            (Repr::Explicit(mine), Kind::Explicit) => {
                let mut theirs = Vec::with_capacity_in(other.explicit_len(), self.alloc.clone());
                other.for_each_explicit(|h| theirs.push(h));
                let merged = merge_sorted_distinct(mine, &theirs, self.alloc.clone());
                if merged.len() <= self.params.explicit_limit() {
                    self.repr = Repr::Explicit(merged);
                } else {
                    self.repr = self.empty_registers();
                    for &h in merged.iter() {
                        self.add_to_registers(h);
                    }
                }
            }
            (Repr::Explicit(_), Kind::Registers) => {
                self.explicit_to_registers();
                self.union_registers(other);
            }
            (_, Kind::Explicit) => {
                if let Repr::Sparse(_) = self.repr {
                    let mut theirs = std::vec::Vec::with_capacity(other.explicit_len());
                    other.for_each_explicit(|h| {
                        let (index, value) = self.params.register_update(h);
                        if value != 0 {
                            theirs.push(sparse_entry(index, value));
                        }
                    });
                    self.merge_sparse(theirs);
                } else {
                    other.for_each_explicit(|h| self.add_to_registers(h));
                }
            }
            (_, Kind::Registers) => self.union_registers(other),
        }
        Ok(())
    }

    /// Cardinality estimate; `None` for an undefined sketch.
    pub fn cardinality(&self) -> Option<f64> {
        match &self.repr {
            Repr::Undefined => None,
            Repr::Empty => Some(0.0),
            Repr::Explicit(v) => Some(v.len() as f64),
            Repr::Sparse(_) | Repr::Dense(_) => {
                let hist = match &self.repr {
                    Repr::Dense(regs) => {
                        let mut hist = estimator::Histogram::new(self.params);
                        regs.iter().for_each(|&r| hist.add(r, 1));
                        hist
                    }
                    _ => estimator::Histogram::of_registers(self),
                };
                Some(hist.estimate())
            }
        }
    }

    /// Number of non-zero registers.
    pub fn filled_registers(&self) -> usize {
        match &self.repr {
            Repr::Sparse(e) => e.len(),
            Repr::Dense(r) => r.iter().filter(|&&v| v != 0).count(),
            _ => 0,
        }
    }
}

impl<A: Allocator + Clone> HllSource for Hll<A> {
    fn params(&self) -> HllParams {
        self.params
    }

    fn kind(&self) -> Kind {
        match self.repr {
            Repr::Undefined => Kind::Undefined,
            Repr::Empty => Kind::Empty,
            Repr::Explicit(_) => Kind::Explicit,
            Repr::Sparse(_) | Repr::Dense(_) => Kind::Registers,
        }
    }

    fn explicit_len(&self) -> usize {
        match &self.repr {
            Repr::Explicit(v) => v.len(),
            _ => 0,
        }
    }

    fn for_each_explicit(&self, mut f: impl FnMut(i64)) {
        if let Repr::Explicit(v) = &self.repr {
            v.iter().for_each(|&h| f(h));
        }
    }

    fn for_each_register(&self, mut f: impl FnMut(u32, u8)) {
        match &self.repr {
            Repr::Sparse(entries) => entries.iter().for_each(|&e| f(e >> 8, (e & 0xff) as u8)),
            Repr::Dense(regs) => regs
                .iter()
                .enumerate()
                .filter(|(_, v)| **v != 0)
                .for_each(|(i, &v)| f(i as u32, v)),
            _ => {}
        }
    }

    fn filled_hint(&self) -> usize {
        match &self.repr {
            Repr::Sparse(e) => e.len(),
            Repr::Dense(r) => r.len(),
            _ => 0,
        }
    }

    fn max_into_dense(&self, regs: &mut [u8]) {
        match &self.repr {
            Repr::Dense(mine) => regs
                .iter_mut()
                .zip(mine.iter())
                .for_each(|(r, &v)| *r = (*r).max(v)),
            _ => self.for_each_register(|i, v| regs[i as usize] = regs[i as usize].max(v)),
        }
    }
}

fn merge_sorted_distinct<A: Allocator>(a: &[i64], b: &[i64], alloc: A) -> Vec<i64, A> {
    let mut out = Vec::with_capacity_in(a.len() + b.len(), alloc);
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

impl<A: Allocator + Clone> crate::sketch::Sketch<A> for Hll<A> {
    type Stored<'b> = codec::HllView<'b>;

    fn decode(bytes: &[u8]) -> Result<codec::HllView<'_>> {
        codec::decode(bytes)
    }

    fn from_stored_in(stored: &codec::HllView<'_>, alloc: A) -> Self {
        Hll::from_source_in(stored, alloc)
    }

    fn clone_in(&self, alloc: A) -> Self {
        Hll::from_source_in(self, alloc)
    }

    fn union_stored(&mut self, stored: &codec::HllView<'_>) -> Result<()> {
        self.union(stored)
    }

    fn union_sketch(&mut self, other: &Self) -> Result<()> {
        self.union(other)
    }

    /// The storage format (versioned, validated on load), in its smallest form.
    fn to_partial(&self) -> std::vec::Vec<u8> {
        codec::encode(self, -1)
    }

    fn from_partial_in(bytes: &[u8], alloc: A) -> Result<Self> {
        Ok(Hll::from_source_in(&codec::decode(bytes)?, alloc))
    }
}

#[cfg(test)]
mod tests;
