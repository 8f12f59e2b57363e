//! TopN: the most frequent items of a stream, with a guaranteed lower and upper bound on the
//! count of every item it reports.
//!
//! The algorithm is Space-Saving (Metwally et al.) with weighted adds, kept as explicit bounds
//! so that merging stays exact about what it knows (the mergeable-summaries construction of
//! Agarwal et al.):
//!
//! * every monitored item has `lower <= true count <= upper`;
//! * every item not monitored has `true count <= absent`.
//!
//! Adding weight `w` to a monitored item raises both bounds by `w`. An unmonitored item takes a
//! free counter, or else the counter of the item with the smallest upper bound, whose upper
//! bound then raises `absent`; the newcomer starts at `lower = w`, `upper = absent + w`. A union
//! adds the bounds item by item, counting an item missing from one side at that side's
//! `absent` in its upper bound, and adds the two `absent`s. Trimming drops the items with the
//! smallest upper bounds and raises `absent` to the largest upper bound dropped.
//!
//! While aggregating a sketch keeps a working set of 3 × `counters` items and is trimmed to
//! `counters` when stored: with the larger working set, items near the cut-off are rarely
//! evicted and re-added. A union lets the working set grow to half as much again before it is
//! trimmed back (in place), so that merging many small sketches does not rank every item after
//! each of them.
//!
//! Evictions take the smallest upper bound (Space-Saving: that keeps `absent` small) among
//! the items outside the first 1.5 × `counters` in rank order, which are kept out of the
//! eviction heap (chosen at the first eviction and again every 4 × `counters` evictions): an item of the middle ranks,
//! whose rate is about the rate at which `absent` rises, would otherwise be evicted and
//! re-added again and again, losing what was seen of it. The others are a Space-Saving
//! summary of 1.5 × `counters` items, so for a single stream `absent` stays within
//! total / (1.5 × counters), and every error within total / counters. Trimming and reporting rank items by their lower bound, the weight actually seen for them
//! (then the upper bound, then the bytes; [`rank_order`]). On a long tail `absent` exceeds
//! the true count of items past the first few hundred ranks, and every newcomer enters with
//! an upper bound above theirs: ranked by upper bound, a trimmed sketch would keep the
//! newcomers and lose those items, and report frequencies inflated by the sum of the merged
//! sketches' `absent`s. The lower bound is exact for an item monitored since it first
//! appeared, and what postgresql-topn counts.

pub mod codec;

use allocator_api2::alloc::{Allocator, Global};
use allocator_api2::vec::Vec;
use hashbrown::HashTable;

use crate::error::{Error, Result};

/// postgresql-topn's default number of counters.
pub const DEFAULT_COUNTERS: u32 = 1000;
/// The largest number of counters a sketch may keep (its working set is three times that).
pub const MAX_COUNTERS: u32 = 1_000_000;

/// The longest item a sketch takes (10 MiB): long URLs and queries fit many times over,
/// while a sketch of such items stays far below PostgreSQL's 1 GB limit on a value.
pub const MAX_ITEM_BYTES: usize = 10 << 20;
/// Items in the working set per stored counter.
pub const WORKING_SET_FACTOR: usize = 3;

pub fn check_counters(counters: i64) -> Result<u32> {
    if (1..=i64::from(MAX_COUNTERS)).contains(&counters) {
        Ok(counters as u32)
    } else {
        Err(Error::invalid_parameter(format!(
            "number of counters must be between 1 and {MAX_COUNTERS}, not {counters}"
        )))
    }
}

/// The last `r` (1..=7) bytes of `item` as a little-endian word, zero above: read with
/// whole-word loads (a byte copy into a buffer that is then read as one word stalls on
/// store forwarding, which cost a tenth of an add).
#[inline]
fn tail_word(item: &[u8], r: usize) -> u64 {
    let len = item.len();
    let word = |at: usize| u64::from_le_bytes(item[at..at + 8].try_into().unwrap());
    let half = |at: usize| u32::from_le_bytes(item[at..at + 4].try_into().unwrap()) as u64;
    if len >= 8 {
        word(len - 8) >> (8 * (8 - r))
    } else if len >= 4 {
        // Two overlapping 4-byte loads: the overlap holds the same bytes in both.
        half(0) | half(len - 4) << (8 * (len - 4))
    } else {
        item[0] as u64
            | (item[len / 2] as u64) << (8 * (len / 2))
            | (item[len - 1] as u64) << (8 * (len - 1))
    }
}

/// The hash of the in-memory item table (never stored): one multiply-rotate round per 8 bytes
/// and MurmurHash3's 64-bit finalizer, a few times faster than MurmurHash3 on short items.
#[inline]
pub(crate) fn hash_item(item: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let round = |h: u64, word: u64| (h ^ word).wrapping_mul(K).rotate_left(29);
    let mut h = (item.len() as u64 ^ 0x746f_706e).wrapping_mul(K);
    let mut words = item.chunks_exact(8);
    for w in &mut words {
        h = round(h, u64::from_le_bytes(w.try_into().unwrap()));
    }
    let r = words.remainder().len();
    if r > 0 {
        h = round(h, tail_word(item, r));
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// The item table's 64-bit hash from the 32 bits a slot keeps (hashbrown takes its control
/// byte from the top bits and the bucket from the low ones: the multiply spreads into both).
#[inline]
fn table_hash(h32: u32) -> u64 {
    (h32 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[inline]
fn item_hash32(item: &[u8]) -> u32 {
    hash_item(item) as u32
}

fn item_of<'a, A: Allocator>(slots: &[Slot], arena: &'a Vec<u8, A>, s: u32) -> &'a [u8] {
    let slot = &slots[s as usize];
    &arena[slot.offset as usize..(slot.offset + slot.len) as usize]
}

/// Room for one more element, doubling from 2 (the many groups of one item take little) but
/// never past `cap` (unless already there).
fn reserve_capped<T, A: Allocator>(v: &mut Vec<T, A>, cap: usize) {
    if v.len() == v.capacity() {
        let target = (v.capacity() * 2).max(2).min(cap.max(v.len() + 1));
        v.reserve_exact(target - v.len());
    }
}

/// Up to this many items a sketch has no hash table: an item is found by a scan of the slots'
/// hashes (the many small groups of a GROUP BY take less memory and time; a table is built
/// with the next item).
const SCAN_ITEMS: usize = 8;

/// `heap_pos` of an item kept out of the eviction heap.
const PROTECTED: u32 = u32::MAX;
/// The protected items are chosen again after this many times `counters` evictions.
const PROTECT_EVERY: usize = 4;

/// Items kept out of the eviction heap: 1.5 × counters. Measured on 10M Zipf rows against
/// postgresql-topn (BENCHMARKS.md): with 1 × counters, items near rank `counters` are still
/// lost; with 2 ×, the Space-Saving part is too small and their counts suffer.
pub fn protected_items(counters: u32) -> usize {
    3 * counters as usize / 2
}

#[derive(Clone, Copy)]
struct Slot {
    lower: u64,
    upper: u64,
    offset: u32,
    len: u32,
    heap_pos: u32,
    /// `item_hash32` of the item (in what would be padding): evictions and table growth do not
    /// hash item bytes again.
    hash: u32,
}

/// One reported item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub item: &'a [u8],
    pub lower: u64,
    pub upper: u64,
}

/// Something whose items can be merged into a [`TopN`]: an in-memory sketch or a decoded view.
pub trait TopNSource {
    fn counters(&self) -> u32;
    fn total(&self) -> u64;
    fn absent(&self) -> u64;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn for_each_entry(&self, f: impl FnMut(&[u8], u64, u64));
}

pub struct TopN<A: Allocator + Clone = Global> {
    counters: u32,
    total: u64,
    absent: u64,
    slots: Vec<Slot, A>,
    /// Min-heap of slot ids by upper bound: the root is the next to evict. Built by the first
    /// add that evicts (`heap_built`): a sketch that never fills its working set, and the
    /// result of a merge, have none.
    heap: Vec<u32, A>,
    heap_built: bool,
    table: HashTable<u32, A>,
    /// Item bytes; evicted items leave garbage that `compact` reclaims.
    arena: Vec<u8, A>,
    garbage: usize,
    /// Evictions since the protected items (out of the heap) were last chosen.
    evictions: usize,
    alloc: A,
}

impl TopN<Global> {
    pub fn new(counters: u32) -> Self {
        TopN::new_in(counters, Global)
    }
}

impl<A: Allocator + Clone> TopN<A> {
    pub fn new_in(counters: u32, alloc: A) -> Self {
        TopN {
            counters,
            total: 0,
            absent: 0,
            slots: Vec::new_in(alloc.clone()),
            heap: Vec::new_in(alloc.clone()),
            heap_built: false,
            table: HashTable::new_in(alloc.clone()),
            arena: Vec::new_in(alloc.clone()),
            garbage: 0,
            evictions: 0,
            alloc,
        }
    }

    /// A copy of `source` whose memory comes from `alloc`.
    pub fn from_source_in(source: &impl TopNSource, alloc: A) -> Self {
        let mut t = TopN::new_in(source.counters(), alloc);
        t.union(source);
        t
    }

    fn capacity(&self) -> usize {
        self.counters as usize * WORKING_SET_FACTOR
    }

    fn item(&self, s: u32) -> &[u8] {
        item_of(&self.slots, &self.arena, s)
    }

    /// The slot of `item` (whose `item_hash32` is `h32`): a scan of the slots' hashes while the
    /// sketch has no table.
    fn find(&self, h32: u32, item: &[u8]) -> Option<u32> {
        if self.slots.len() <= SCAN_ITEMS {
            return (0..self.slots.len() as u32)
                .find(|&s| self.slots[s as usize].hash == h32 && self.item(s) == item);
        }
        self.table
            .find(table_hash(h32), |&s| self.item(s) == item)
            .copied()
    }

    /// Adds `weight` occurrences of `item`.
    pub fn add(&mut self, item: &[u8], weight: u64) -> Result<()> {
        if item.len() > MAX_ITEM_BYTES {
            return Err(Error::too_large(format!(
                "topn item of {} bytes: items are at most {} bytes",
                item.len(),
                MAX_ITEM_BYTES
            )));
        }
        self.total = self.total.saturating_add(weight);
        if weight == 0 {
            return Ok(());
        }
        let h32 = item_hash32(item);
        if let Some(s) = self.find(h32, item) {
            let slot = &mut self.slots[s as usize];
            slot.lower = slot.lower.saturating_add(weight);
            slot.upper = slot.upper.saturating_add(weight);
            let pos = slot.heap_pos;
            if self.heap_built && pos != PROTECTED {
                self.sift_down(pos as usize);
            }
            return Ok(());
        }
        if self.slots.len() < self.capacity() {
            self.push_slot(h32, item, weight, self.absent.saturating_add(weight));
        } else {
            if !self.heap_built {
                // After a merge the working set may hold more than its capacity.
                self.trim(self.capacity());
                self.protect();
            }
            // Evict the item with the smallest upper bound and give its counter to `item`.
            let s = self.heap[0];
            let evicted = self.slots[s as usize];
            self.absent = self.absent.max(evicted.upper);
            if self.slots.len() > SCAN_ITEMS {
                self.table
                    .find_entry(table_hash(evicted.hash), |&x| x == s)
                    .map(|e| e.remove())
                    .ok();
            }
            // The newcomer takes the evicted bytes when it fits in them (what is left over is
            // garbage); otherwise they all become garbage, and an empty slot keeps a
            // compaction from copying them.
            let offset = if item.len() <= evicted.len as usize {
                let start = evicted.offset as usize;
                self.arena[start..start + item.len()].copy_from_slice(item);
                self.garbage += evicted.len as usize - item.len();
                evicted.offset
            } else {
                self.garbage += evicted.len as usize;
                self.slots[s as usize].len = 0;
                self.append_item(item)
            };
            self.slots[s as usize] = Slot {
                lower: weight,
                upper: self.absent.saturating_add(weight),
                offset,
                len: item.len() as u32,
                heap_pos: 0,
                hash: h32,
            };
            if self.slots.len() > SCAN_ITEMS {
                self.insert_in_table(s);
            }
            self.sift_root_down();
            self.evictions += 1;
            if self.evictions >= PROTECT_EVERY * self.counters as usize {
                self.protect();
            }
        }
        Ok(())
    }

    /// Takes the first `protected_items` items in rank order out of the eviction heap (and
    /// puts the others back in it).
    fn protect(&mut self) {
        self.evictions = 0;
        let n = protected_items(self.counters);
        self.heap.clear();
        if self.slots.len() <= n {
            self.heap.extend(0..self.slots.len() as u32);
        } else {
            // By bounds only (rank order without the bytes, which ties would compare often).
            let mut order = self.bounds_order();
            order.select_nth_unstable_by(n, |a, b| (b.0, b.1).cmp(&(a.0, a.1)).then(a.2.cmp(&b.2)));
            for &(_, _, s) in &order[..n] {
                self.slots[s as usize].heap_pos = PROTECTED;
            }
            self.heap.extend(order[n..].iter().map(|&(_, _, s)| s));
        }
        self.heapify();
        self.heap_built = true;
    }

    /// Appends an item's bytes. When the arena is full it is rewritten without the bytes of
    /// evicted items if they are half of it, and otherwise grown by a quarter: it stays within
    /// about 2.5 times its live bytes. (Rewriting at a quarter, as before, kept it within 1.6
    /// times but made rewrites a twelfth of the time of adds on a long tail of items.)
    fn append_item(&mut self, item: &[u8]) -> u32 {
        if self.arena.len() + item.len() > self.arena.capacity() {
            if self.garbage * 2 >= self.arena.len() && self.garbage > 0 {
                let live = self.arena.len() - self.garbage;
                self.compact_arena(live + live / 4 + item.len());
            } else {
                self.arena
                    .reserve_exact((self.arena.len() / 4).max(item.len()).max(64));
            }
        }
        let offset = self.arena.len() as u32;
        self.arena.extend_from_slice(item);
        offset
    }

    fn compact_arena(&mut self, capacity: usize) {
        let mut arena = Vec::with_capacity_in(capacity, self.alloc.clone());
        for slot in self.slots.iter_mut() {
            let start = slot.offset as usize;
            slot.offset = arena.len() as u32;
            arena.extend_from_slice(&self.arena[start..start + slot.len as usize]);
        }
        self.arena = arena;
        self.garbage = 0;
    }

    fn insert_in_table(&mut self, s: u32) {
        let slots = &self.slots;
        self.table
            .insert_unique(table_hash(slots[s as usize].hash), s, |&x| {
                table_hash(slots[x as usize].hash)
            });
    }

    /// A new slot (not in the heap), registered in the table. Slots grow by doubling only up
    /// to the working set, so a full sketch wastes no capacity (a merge may go past it).
    fn push_slot(&mut self, h32: u32, item: &[u8], lower: u64, upper: u64) -> u32 {
        let offset = self.append_item(item);
        let s = self.slots.len() as u32;
        let cap = self.capacity();
        reserve_capped(&mut self.slots, cap);
        self.slots.push(Slot {
            lower,
            upper,
            offset,
            len: item.len() as u32,
            heap_pos: 0,
            hash: h32,
        });
        if self.slots.len() == SCAN_ITEMS + 1 {
            self.fill_table();
        } else if self.slots.len() > SCAN_ITEMS {
            self.insert_in_table(s);
        }
        s
    }

    /// The table of every slot (of a sketch past SCAN_ITEMS items).
    fn fill_table(&mut self) {
        self.table.clear();
        if self.slots.len() > SCAN_ITEMS {
            for s in 0..self.slots.len() as u32 {
                self.insert_in_table(s);
            }
        }
    }

    #[inline]
    fn key(&self, s: u32) -> (u64, u64) {
        let slot = &self.slots[s as usize];
        (slot.upper, slot.lower)
    }

    /// Puts slot `s` at heap position `pos` and records the position in the slot.
    #[inline]
    fn place(&mut self, pos: usize, s: u32) {
        self.heap[pos] = s;
        self.slots[s as usize].heap_pos = pos as u32;
    }

    // Both sifts move a hole instead of swapping: each slot that moves is written once.
    fn sift_up(&mut self, mut pos: usize) {
        let s = self.heap[pos];
        let key = self.key(s);
        while pos > 0 {
            let parent = (pos - 1) / 2;
            let p = self.heap[parent];
            if self.key(p) <= key {
                break;
            }
            self.place(pos, p);
            pos = parent;
        }
        self.place(pos, s);
    }

    fn sift_down(&mut self, mut pos: usize) {
        let n = self.heap.len();
        let s = self.heap[pos];
        let key = self.key(s);
        loop {
            let left = 2 * pos + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let (mut child, mut child_key) = (left, self.key(self.heap[left]));
            if right < n {
                let right_key = self.key(self.heap[right]);
                if right_key < child_key {
                    (child, child_key) = (right, right_key);
                }
            }
            if key <= child_key {
                break;
            }
            self.place(pos, self.heap[child]);
            pos = child;
        }
        self.place(pos, s);
    }

    /// Moves the root, a newcomer whose upper bound is one step above the evicted minimum,
    /// to its place: first down the path of smaller children to a leaf (one comparison per
    /// level), then up while its parent is larger (Floyd's bottom-up sift). Such a key belongs
    /// near the bottom, below the ties at the minimum, where a plain sift-down needs two
    /// comparisons per level.
    fn sift_root_down(&mut self) {
        let n = self.heap.len();
        let s = self.heap[0];
        let mut pos = 0;
        loop {
            let left = 2 * pos + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && self.key(self.heap[right]) < self.key(self.heap[left]) {
                right
            } else {
                left
            };
            self.place(pos, self.heap[child]);
            pos = child;
        }
        self.place(pos, s);
        self.sift_up(pos);
    }

    fn heapify(&mut self) {
        for (pos, &s) in self.heap.iter().enumerate() {
            self.slots[s as usize].heap_pos = pos as u32;
        }
        for pos in (0..self.heap.len() / 2).rev() {
            self.sift_down(pos);
        }
    }

    /// Keeps the first `keep` items in rank order; the largest upper bound dropped raises
    /// `absent`. In place: the kept slots move down, the table is refilled from the hashes the
    /// slots keep, and the dropped bytes are garbage until the arena is rewritten.
    pub fn trim(&mut self, keep: usize) {
        if self.slots.len() <= keep {
            return;
        }
        let kept = self.first_in_rank_order(keep);
        let mut dropped_max = 0;
        let mut w = 0;
        for (s, &keep_slot) in kept.iter().enumerate() {
            let slot = self.slots[s];
            if keep_slot {
                self.slots[w] = slot;
                w += 1;
            } else {
                dropped_max = dropped_max.max(slot.upper);
                self.garbage += slot.len as usize;
            }
        }
        self.slots.truncate(w);
        self.absent = self.absent.max(dropped_max);
        self.fill_table();
        self.heap.clear();
        self.heap_built = false;
        if self.garbage > 0 && self.garbage * 2 >= self.arena.len() {
            let live = self.arena.len() - self.garbage;
            self.compact_arena(live + live / 4);
        }
    }

    /// (lower, upper, slot id) of every slot.
    fn bounds_order(&self) -> std::vec::Vec<(u64, u64, u32)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(s, slot)| (slot.lower, slot.upper, s as u32))
            .collect()
    }

    /// Which slots are the first `keep` (< the number of slots) in rank order.
    fn first_in_rank_order(&self, keep: usize) -> std::vec::Vec<bool> {
        let mut order = self.bounds_order();
        select_ranked(&mut order, keep, |e| (e.0, e.1), |e| self.item(e.2));
        let mut kept = vec![false; self.slots.len()];
        for &(_, _, s) in &order[..keep] {
            kept[s as usize] = true;
        }
        kept
    }

    /// Merges another sketch in (topn_union, topn_union_agg); the result keeps the larger
    /// number of counters. The working set may grow to half as much again as its capacity
    /// before it is trimmed back (a trim ranks every item: after every merge, it would cost
    /// far more than merging a small sketch).
    pub fn union(&mut self, other: &impl TopNSource) {
        self.counters = self.counters.max(other.counters());
        // Items `other` does not list may have occurred up to `other_absent` times there: their
        // upper bounds rise by that. Most stored sketches have none (they never evicted).
        let other_absent = other.absent();
        let mut matched = if other_absent > 0 {
            vec![false; self.slots.len()]
        } else {
            std::vec::Vec::new()
        };
        // Room for the items of `other` at once: the table is not grown and rehashed item by item.
        let room = other
            .len()
            .min((self.capacity() * 2).saturating_sub(self.slots.len()));
        if self.slots.len() + room > SCAN_ITEMS {
            let slots = &self.slots;
            self.table
                .reserve(room, |&x| table_hash(slots[x as usize].hash));
        }
        // Items new to this sketch are not in `matched`: their upper bound has `other`'s.
        let absent = self.absent;
        other.for_each_entry(|item, lower, upper| {
            let h32 = item_hash32(item);
            match self.find(h32, item) {
                Some(s) => {
                    let slot = &mut self.slots[s as usize];
                    slot.lower = slot.lower.saturating_add(lower);
                    slot.upper = slot.upper.saturating_add(upper);
                    // (Not for an item new here, which `decode` lets a corrupt value repeat.)
                    if let Some(m) = matched.get_mut(s as usize) {
                        *m = true;
                    }
                }
                None => {
                    self.push_slot(h32, item, lower, absent.saturating_add(upper));
                }
            }
        });
        // Without a branch per slot (whether a slot matched is random: mispredicted half the time).
        for (slot, &m) in self.slots.iter_mut().zip(&matched) {
            slot.upper = slot.upper.saturating_add(if m { 0 } else { other_absent });
        }
        self.absent = self.absent.saturating_add(other_absent);
        self.total = self.total.saturating_add(other.total());
        self.heap.clear();
        self.heap_built = false;
        if self.slots.len() > self.capacity() + self.capacity() / 2 {
            self.trim(self.capacity());
        }
    }

    /// What the sketch stores: its first `counters` items in rank order, in storage order,
    /// and the bound for every other item (which the dropped ones raise). Leaves the working
    /// set as it is.
    pub fn stored(&self) -> (std::vec::Vec<Entry<'_>>, u64) {
        self.first_entries(self.counters as usize)
    }

    /// What a serialized aggregate state holds: the working set, trimmed to its capacity.
    pub fn working_set(&self) -> (std::vec::Vec<Entry<'_>>, u64) {
        self.first_entries(self.capacity())
    }

    fn first_entries(&self, keep: usize) -> (std::vec::Vec<Entry<'_>>, u64) {
        let mut entries = self.unsorted_entries();
        let mut absent = self.absent;
        if entries.len() > keep {
            select_ranked(&mut entries, keep, |e| (e.lower, e.upper), |e| e.item);
            absent = entries[keep..]
                .iter()
                .map(|e| e.upper)
                .fold(absent, u64::max);
            entries.truncate(keep);
        }
        entries.sort_unstable_by(codec::storage_order);
        (entries, absent)
    }

    /// The items in storage order.
    pub fn entries(&self) -> std::vec::Vec<Entry<'_>> {
        let mut entries = self.unsorted_entries();
        entries.sort_unstable_by(codec::storage_order);
        entries
    }

    fn unsorted_entries(&self) -> std::vec::Vec<Entry<'_>> {
        (0..self.slots.len() as u32)
            .map(|s| Entry {
                item: self.item(s),
                lower: self.slots[s as usize].lower,
                upper: self.slots[s as usize].upper,
            })
            .collect()
    }

    /// Bytes of memory the content holds.
    pub fn heap_size(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.heap.capacity() * 4
            + self.table.capacity() * 5
            + self.arena.capacity()
    }
}

impl<A: Allocator + Clone> TopNSource for TopN<A> {
    fn counters(&self) -> u32 {
        self.counters
    }
    fn total(&self) -> u64 {
        self.total
    }
    fn absent(&self) -> u64 {
        self.absent
    }
    fn len(&self) -> usize {
        self.slots.len()
    }
    fn for_each_entry(&self, mut f: impl FnMut(&[u8], u64, u64)) {
        for s in 0..self.slots.len() as u32 {
            let slot = self.slots[s as usize];
            f(self.item(s), slot.lower, slot.upper);
        }
    }
}

/// How readers rank items: lower bound (the weight seen), then upper bound, descending; then
/// the item's bytes.
pub fn rank_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    b.lower
        .cmp(&a.lower)
        .then(b.upper.cmp(&a.upper))
        .then_with(|| a.item.cmp(b.item))
}

/// Reorders `v` so that its first `keep` (< its length) elements are the first `keep` in rank
/// order (the kept set of a full sort: rank order is total, items being distinct). The cut is
/// found on the bounds alone; the item bytes decide only among the elements whose bounds tie
/// with those at the cut (on a long tail, thousands of items seen once).
fn select_ranked<'a, T>(
    v: &mut [T],
    keep: usize,
    bounds: impl Fn(&T) -> (u64, u64),
    bytes: impl Fn(&T) -> &'a [u8],
) {
    v.select_nth_unstable_by(keep, |a, b| bounds(b).cmp(&bounds(a)));
    let cut = bounds(&v[keep]);
    // The ties: at the end of the kept part and at the start of the rest, side by side.
    let first_tie = partition(&mut v[..keep], |e| bounds(e) != cut);
    let last_tie = keep + partition(&mut v[keep..], |e| bounds(e) == cut);
    let ties = &mut v[first_tie..last_tie];
    ties.select_nth_unstable_by(keep - first_tie, |a, b| bytes(a).cmp(bytes(b)));
}

/// Moves the elements `pred` accepts to the front; returns how many there are.
fn partition<T>(v: &mut [T], pred: impl Fn(&T) -> bool) -> usize {
    let mut front = 0;
    for i in 0..v.len() {
        if pred(&v[i]) {
            v.swap(front, i);
            front += 1;
        }
    }
    front
}

/// For entries in rank order, whether each of the first `n` is certainly among the `n` most
/// frequent items: its lower bound exceeds the upper bound of every item after the first `n`
/// and of every absent item.
pub fn guaranteed_in_top(ranked: &[Entry], absent: u64, n: usize) -> std::vec::Vec<bool> {
    let n = n.min(ranked.len());
    let outside = ranked[n..].iter().map(|e| e.upper).fold(absent, u64::max);
    ranked[..n].iter().map(|e| e.lower > outside).collect()
}

/// The first `n` entries in rank order, and whether each is certainly among the `n` most
/// frequent items ([`guaranteed_in_top`]); only those `n` are sorted.
pub fn top<'a>(
    mut entries: std::vec::Vec<Entry<'a>>,
    absent: u64,
    n: usize,
) -> (std::vec::Vec<Entry<'a>>, std::vec::Vec<bool>) {
    if n < entries.len() {
        entries.select_nth_unstable_by(n, rank_order);
    }
    let n = n.min(entries.len());
    entries[..n].sort_unstable_by(rank_order);
    let guaranteed = guaranteed_in_top(&entries, absent, n);
    entries.truncate(n);
    (entries, guaranteed)
}

impl<A: Allocator + Clone> crate::sketch::Sketch<A> for TopN<A> {
    type Stored<'b> = codec::TopNView<'b>;

    fn decode(bytes: &[u8]) -> Result<codec::TopNView<'_>> {
        codec::decode(bytes)
    }

    fn from_stored_in(stored: &codec::TopNView<'_>, alloc: A) -> Self {
        TopN::from_source_in(stored, alloc)
    }

    fn clone_in(&self, alloc: A) -> Self {
        TopN::from_source_in(self, alloc)
    }

    fn union_stored(&mut self, stored: &codec::TopNView<'_>) -> Result<()> {
        self.union(stored);
        Ok(())
    }

    fn union_sketch(&mut self, other: &Self) -> Result<()> {
        self.union(other);
        Ok(())
    }

    /// The whole working set, not only the stored items: partial states lose nothing.
    fn to_partial(&self) -> std::vec::Vec<u8> {
        codec::encode_state(self)
    }

    fn from_partial_in(bytes: &[u8], alloc: A) -> Result<Self> {
        Ok(TopN::from_source_in(&codec::decode_state(bytes)?, alloc))
    }
}

#[cfg(test)]
mod tests;
