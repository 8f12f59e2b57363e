//! The stored form of a TopN sketch, version 1. Integers are unsigned LEB128 varints.
//!
//! ```text
//! byte 0    version (1)
//! varint    counters        items the sketch keeps
//! varint    total           weight ever added
//! varint    absent          upper bound of any item not listed
//! varint    count           items listed (<= counters)
//! count × { varint length, item bytes, varint upper, varint upper - lower }
//! ```
//!
//! Items are distinct and in storage order (upper bound, then lower bound, descending; then
//! bytes ascending), so equal sketches have equal bytes; readers rank them by
//! [`super::rank_order`]. For every item
//! `upper - lower <= absent`. [`decode`] checks all of it and reads the items in place.

use hashbrown::HashTable;

use super::{check_counters, Entry, TopNSource, MAX_COUNTERS};
use crate::error::{Error, Result};
use crate::varint::{self, Reader};

pub const VERSION: u8 = 1;
/// Serialized aggregate states (partial aggregation) use the same layout under this version
/// byte and may list the whole working set, up to three times the counters.
pub const STATE_VERSION: u8 = 0x81;

/// A validated stored sketch, read in place.
#[derive(Clone, Copy, Debug)]
pub struct TopNView<'a> {
    counters: u32,
    total: u64,
    absent: u64,
    count: usize,
    items: &'a [u8],
}

/// Storage order of two entries.
pub fn storage_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    b.upper
        .cmp(&a.upper)
        .then(b.lower.cmp(&a.lower))
        .then_with(|| a.item.cmp(b.item))
}

/// Bounds and order of the entries.
fn check_entries(limit: usize, absent: u64, entries: &[Entry]) -> Result<()> {
    if entries.len() > limit {
        return Err(Error::corrupt(format!(
            "topn lists {} items but keeps only {limit}",
            entries.len()
        )));
    }
    for (i, e) in entries.iter().enumerate() {
        check_entry(i.checked_sub(1).map(|p| &entries[p]), absent, e)?;
    }
    Ok(())
}

/// The bounds of an entry, and that it comes after the one before it in storage order.
fn check_entry(before: Option<&Entry>, absent: u64, e: &Entry) -> Result<()> {
    if e.lower > e.upper || e.upper - e.lower > absent {
        return Err(Error::corrupt(
            "topn item bounds are inconsistent with the sketch's error bound",
        ));
    }
    if before.is_some_and(|b| storage_order(b, e) != std::cmp::Ordering::Less) {
        return Err(Error::corrupt(
            "topn items are not distinct and in storage order",
        ));
    }
    Ok(())
}

/// That no item is listed twice (with different bounds; equal entries fail the order check).
/// It hashes every item, so it runs where bytes come from outside (input functions, casts,
/// partial states), not on every read of a stored value.
fn check_distinct(entries: &[Entry]) -> Result<()> {
    let mut seen: HashTable<usize> = HashTable::with_capacity(entries.len());
    let hash = |item: &[u8]| crate::murmur3::murmur3_x64_128(item, 1).0;
    for (i, e) in entries.iter().enumerate() {
        let h = hash(e.item);
        if seen.find(h, |&j| entries[j].item == e.item).is_some() {
            return Err(Error::corrupt("topn lists an item twice"));
        }
        seen.insert_unique(h, i, |&j| hash(entries[j].item));
    }
    Ok(())
}

/// Reads a stored value: checks its structure, bounds and order, and returns a view of it.
pub fn decode(bytes: &[u8]) -> Result<TopNView<'_>> {
    decode_version(bytes, VERSION, 1, false)
}

/// [`decode`] plus the check that no item is listed twice: for bytes from outside.
pub fn decode_checked(bytes: &[u8]) -> Result<TopNView<'_>> {
    decode_version(bytes, VERSION, 1, true)
}

/// Validates a serialized aggregate state.
pub fn decode_state(bytes: &[u8]) -> Result<TopNView<'_>> {
    decode_version(bytes, STATE_VERSION, super::WORKING_SET_FACTOR, true)
}

fn decode_version(
    bytes: &[u8],
    expected: u8,
    items_per_counter: usize,
    distinct: bool,
) -> Result<TopNView<'_>> {
    let mut r = Reader::new(bytes, "topn");
    let version = r.bytes(1, "header")?[0];
    if version != expected {
        return Err(Error::corrupt(format!(
            "unknown topn format version {version}"
        )));
    }
    let counters = r.varint("number of counters")?;
    let counters = check_counters(counters as i64).map_err(|_| {
        Error::corrupt(format!(
            "topn number of counters {counters} out of range 1..{MAX_COUNTERS}"
        ))
    })?;
    let total = r.varint("total")?;
    let absent = r.varint("error bound")?;
    let count = r.varint("item count")?;
    let limit = counters as usize * items_per_counter;
    if count > limit as u64 {
        return Err(Error::corrupt(format!(
            "topn lists {count} items but keeps only {limit}"
        )));
    }
    let items_start = r.pos;
    // Checked as they are read: only the distinctness check needs them all.
    let mut entries = Vec::with_capacity(if distinct { count as usize } else { 0 });
    let mut before: Option<Entry> = None;
    for _ in 0..count {
        let len = r.varint("item length")?;
        let item = r.bytes(usize::try_from(len).unwrap_or(usize::MAX), "item")?;
        let upper = r.varint("upper bound")?;
        let error = r.varint("error")?;
        if error > upper {
            return Err(Error::corrupt("topn item's lower bound is negative"));
        }
        let e = Entry {
            item,
            lower: upper - error,
            upper,
        };
        check_entry(before.as_ref(), absent, &e)?;
        if distinct {
            entries.push(e.clone());
        }
        before = Some(e);
    }
    if r.pos != bytes.len() {
        return Err(Error::corrupt(format!(
            "topn value has {} bytes after its items",
            bytes.len() - r.pos
        )));
    }
    if distinct {
        check_distinct(&entries)?;
    }
    Ok(TopNView {
        counters,
        total,
        absent,
        count: count as usize,
        items: &bytes[items_start..],
    })
}

impl TopNSource for TopNView<'_> {
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
        self.count
    }
    fn for_each_entry(&self, f: impl FnMut(&[u8], u64, u64)) {
        self.read_entries(f);
    }
}

impl<'a> TopNView<'a> {
    /// Reads the items in place; `decode` validated them, so reading cannot fail.
    fn read_entries(&self, mut f: impl FnMut(&'a [u8], u64, u64)) {
        let mut r = Reader::new(self.items, "topn");
        for _ in 0..self.count {
            let len = r.varint("").unwrap_or(0) as usize;
            let item = r.bytes(len, "").unwrap_or(&[]);
            let upper = r.varint("").unwrap_or(0);
            let error = r.varint("").unwrap_or(0);
            f(item, upper - error, upper);
        }
    }

    /// The items, in storage order (as stored).
    pub fn entries(&self) -> Vec<Entry<'a>> {
        let mut out = Vec::with_capacity(self.count);
        self.read_entries(|item, lower, upper| out.push(Entry { item, lower, upper }));
        out
    }
}

/// The stored form of a sketch given by its parts; entries must be in storage order.
pub fn encode(counters: u32, total: u64, absent: u64, entries: &[Entry]) -> Vec<u8> {
    encode_version(VERSION, counters, total, absent, entries)
}

/// A whole aggregate state (its working set), for partial aggregation.
pub fn encode_state<A: allocator_api2::alloc::Allocator + Clone>(
    state: &super::TopN<A>,
) -> Vec<u8> {
    let (entries, absent) = state.working_set();
    encode_version(
        STATE_VERSION,
        state.counters(),
        state.total(),
        absent,
        &entries,
    )
}

fn encode_version(
    version: u8,
    counters: u32,
    total: u64,
    absent: u64,
    entries: &[Entry],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + entries.iter().map(|e| e.item.len() + 6).sum::<usize>());
    out.push(version);
    varint::put(&mut out, u64::from(counters));
    varint::put(&mut out, total);
    varint::put(&mut out, absent);
    varint::put(&mut out, entries.len() as u64);
    for e in entries {
        varint::put(&mut out, e.item.len() as u64);
        out.extend_from_slice(e.item);
        varint::put(&mut out, e.upper);
        varint::put(&mut out, e.upper - e.lower);
    }
    out
}

/// Validates parts that come from outside (text input, jsonb), puts the entries in storage
/// order, and returns the stored form.
pub fn encode_checked(
    counters: i64,
    total: u64,
    absent: u64,
    entries: &mut [Entry],
) -> Result<Vec<u8>> {
    let counters = check_counters(counters)?;
    entries.sort_by(storage_order);
    check_entries(counters as usize, absent, entries)
        .and_then(|_| check_distinct(entries))
        .map_err(|e| Error::invalid_parameter(e.message))?;
    Ok(encode(counters, total, absent, entries))
}
