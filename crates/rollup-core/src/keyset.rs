//! An exact set of byte strings: which keys a batch has already shown (the in-batch
//! duplicate filter of event ingestion). Keys are copied into one arena; the table holds
//! their offsets, so a key costs its length plus 16 bytes and one hash-table slot.

use allocator_api2::alloc::{Allocator, Global};
use allocator_api2::vec::Vec;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use crate::topn::hash_item;

pub struct KeySet<A: Allocator + Clone = Global> {
    /// (offset, length) of each key in `arena`.
    table: HashTable<(usize, usize), A>,
    arena: Vec<u8, A>,
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
        KeySet { table: HashTable::new_in(alloc.clone()), arena: Vec::new_in(alloc) }
    }

    /// Adds `key`; true when it was not in the set before.
    pub fn insert(&mut self, key: &[u8]) -> bool {
        let arena = &self.arena;
        // One probe: it finds the key or the slot where it goes.
        match self.table.entry(hash_item(key), |&(o, l)| &arena[o..o + l] == key, |&(o, l)| hash_item(&arena[o..o + l])) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert((self.arena.len(), key.len()));
                self.arena.extend_from_slice(key);
                true
            }
        }
    }

    /// Memory held: the keys and the table's slots (buckets and control bytes).
    pub fn memory(&self) -> usize {
        self.arena.capacity() + self.table.capacity() * (std::mem::size_of::<(usize, usize)>() + 1)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
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
