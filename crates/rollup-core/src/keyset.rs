//! An exact set of byte strings: which keys a batch has already shown (the in-batch
//! duplicate filter of event ingestion). Keys are copied into one arena; the table holds
//! each key's hash and place in the arena, so a key costs its length plus 32 bytes of table
//! (16-byte slots, at most half of them used).
//!
//! The table is open-addressed with linear probing and at most half full: a key is looked up
//! and added with one cache line of the table in most cases, which the caller can fetch ahead
//! ([`KeySet::prefetch`]) while it does other work; the arena is read only when the hashes
//! match, and growing the table reads only the table.

use allocator_api2::alloc::{Allocator, Global};
use allocator_api2::vec::Vec;

use crate::topn::hash_item;

pub struct KeySet<A: Allocator + Clone = Global> {
    /// A power of two of slots (none before the first key).
    slots: Vec<Slot, A>,
    len: usize,
    arena: Vec<u8, A>,
}

/// A key's hash (never 0: 0 marks an empty slot) and where its bytes are in the arena.
#[derive(Clone, Copy, Default)]
struct Slot {
    hash: u64,
    offset: u32,
    len: u32,
}

/// Slots of a table's first allocation (16 KiB).
const FIRST_SLOTS: usize = 1 << 10;

/// The hash of `key` that [`KeySet::prefetch`] and [`KeySet::insert_hashed`] take.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    hash_item(key).max(1)
}

impl KeySet<Global> {
    pub fn new() -> Self {
        KeySet::new_in(Global)
    }
}

impl Default for KeySet<Global> {
    fn default() -> Self {
        KeySet::new()
    }
}

impl<A: Allocator + Clone> KeySet<A> {
    pub fn new_in(alloc: A) -> Self {
        KeySet {
            slots: Vec::new_in(alloc.clone()),
            len: 0,
            arena: Vec::new_in(alloc),
        }
    }

    /// Starts fetching the table's slot for `hash` into the cache.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if !self.slots.is_empty() {
            // And the next line, where a probe goes on when the slot is one of its line's last.
            crate::prefetch(
                (&self.slots[hash as usize & (self.slots.len() - 1)] as *const Slot).cast(),
                2,
            );
        }
    }

    /// Adds `key`; true when it was not in the set before.
    pub fn insert(&mut self, key: &[u8]) -> bool {
        self.insert_hashed(key_hash(key), key)
    }

    /// Adds `key`, whose [`key_hash`] is `hash`; true when it was not in the set before.
    ///
    /// The arena is limited to 4 GiB (offsets are u32): callers stop adding keys far earlier.
    pub fn insert_hashed(&mut self, hash: u64, key: &[u8]) -> bool {
        debug_assert_eq!(hash, key_hash(key));
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot.hash == 0 {
                let offset = u32::try_from(self.arena.len()).expect("KeySet arena over 4 GiB");
                let len = u32::try_from(key.len()).expect("KeySet key over 4 GiB");
                self.slots[i] = Slot { hash, offset, len };
                self.arena.extend_from_slice(key);
                self.len += 1;
                return true;
            }
            if slot.hash == hash && &self.arena[slot.offset as usize..][..slot.len as usize] == key
            {
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the table (or makes the first one), placing each key by its stored hash.
    fn grow(&mut self) {
        let size = (2 * self.slots.len()).max(FIRST_SLOTS);
        let mut slots = Vec::with_capacity_in(size, self.slots.allocator().clone());
        slots.resize(size, Slot::default());
        for slot in self.slots.iter().filter(|s| s.hash != 0) {
            let mut i = slot.hash as usize & (size - 1);
            while slots[i].hash != 0 {
                i = (i + 1) & (size - 1);
            }
            slots[i] = *slot;
        }
        self.slots = slots;
    }

    /// Memory held: the keys and the table.
    pub fn memory(&self) -> usize {
        self.arena.capacity() + self.slots.capacity() * std::mem::size_of::<Slot>()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::HashSet;

    #[test]
    fn first_insert_of_each_key_is_new() {
        let mut set = KeySet::new();
        assert!(set.insert(b""));
        assert!(!set.insert(b""));
        assert!(set.insert(b"a"));
        assert!(set.insert(b"ab"));
        assert!(!set.insert(b"a"));
        assert!(set.insert(b"a\0"));
        assert_eq!(set.len(), 4);
    }

    #[test]
    fn agrees_with_std_hashset_on_random_keys() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut set = KeySet::new();
        let mut reference = HashSet::new();
        for _ in 0..200_000 {
            // Short keys from a small alphabet: many repeats, many shared prefixes.
            let len = rng.random_range(0..12);
            let key: std::vec::Vec<u8> = (0..len).map(|_| rng.random_range(b'a'..b'd')).collect();
            assert_eq!(set.insert(&key), reference.insert(key));
        }
        assert_eq!(set.len(), reference.len());
    }
}
