use std::collections::HashMap;

use rand::{Rng, SeedableRng};

use super::codec::{decode, decode_checked, encode, encode_checked};
use super::*;
use crate::ErrorKind;

/// Items drawn from a Zipf distribution over `vocabulary` words with exponent `s`.
fn zipf_stream(n: usize, vocabulary: usize, s: f64, seed: u64) -> std::vec::Vec<String> {
    let mut cumulative = std::vec::Vec::with_capacity(vocabulary);
    let mut sum = 0.0;
    for k in 1..=vocabulary {
        sum += 1.0 / (k as f64).powf(s);
        cumulative.push(sum);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u = rng.random::<f64>() * sum;
            let k = cumulative.partition_point(|&c| c < u);
            format!("word{k}")
        })
        .collect()
}

fn truth(items: &[String], weights: &[u64]) -> HashMap<String, u64> {
    let mut t = HashMap::new();
    for (item, &w) in items.iter().zip(weights) {
        *t.entry(item.clone()).or_insert(0) += w;
    }
    t
}

fn sketch(items: &[String], weights: &[u64], counters: u32) -> TopN {
    let mut t = TopN::new(counters);
    for (item, &w) in items.iter().zip(weights) {
        t.add(item.as_bytes(), w).unwrap();
    }
    t
}

/// Every listed item's bounds contain its true count; every unlisted item is within `absent`.
fn assert_bounds_hold(source: &impl TopNSource, truth: &HashMap<String, u64>) {
    let mut listed = std::collections::HashSet::new();
    source.for_each_entry(|item, lower, upper| {
        let item = std::str::from_utf8(item).unwrap().to_string();
        let f = truth.get(&item).copied().unwrap_or(0);
        assert!(
            lower <= f && f <= upper,
            "{item}: {lower} <= {f} <= {upper}"
        );
        listed.insert(item);
    });
    for (item, &f) in truth {
        if !listed.contains(item) {
            assert!(
                f <= source.absent(),
                "unlisted {item}: {f} > absent {}",
                source.absent()
            );
        }
    }
    assert_eq!(source.total(), truth.values().sum::<u64>());
}

#[test]
fn bounds_contain_the_truth_for_weighted_streams() {
    for seed in 0..5 {
        let items = zipf_stream(50_000, 20_000, 1.1, seed);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 100);
        let weights: std::vec::Vec<u64> =
            (0..items.len()).map(|_| rng.random_range(1..5)).collect();
        let t = sketch(&items, &weights, 50);
        let truth = truth(&items, &weights);
        assert_bounds_hold(&t, &truth);
        let bytes = encode_stored(&t);
        assert_bounds_hold(&decode(&bytes).unwrap(), &truth);
        // Space-Saving over the items outside the protected ones.
        let pool = (50 * WORKING_SET_FACTOR - protected_items(50)) as u64;
        assert!(
            t.absent() <= t.total() / pool,
            "absent {} total {}",
            t.absent(),
            t.total()
        );
    }
}

fn encode_stored(t: &TopN) -> std::vec::Vec<u8> {
    let (entries, absent) = t.stored();
    encode(t.counters(), t.total(), absent, &entries)
}

#[test]
fn merge_keeps_the_guarantees_in_any_order() {
    let items = zipf_stream(60_000, 30_000, 1.1, 7);
    let weights = vec![1u64; items.len()];
    let truth = truth(&items, &weights);
    let parts: std::vec::Vec<std::vec::Vec<u8>> = items
        .chunks(4_000)
        .map(|c| encode_stored(&sketch(c, &weights[..c.len()], 100)))
        .collect();
    for order in [0usize, 1, 2] {
        let mut merged = TopN::new(100);
        let mut indices: std::vec::Vec<usize> = (0..parts.len()).collect();
        match order {
            1 => indices.reverse(),
            2 => indices.sort_by_key(|&i| (i * 7) % parts.len()),
            _ => {}
        }
        for i in indices {
            merged.union(&decode(&parts[i]).unwrap());
        }
        assert_bounds_hold(&merged, &truth);
        let stored = encode_stored(&merged);
        assert_bounds_hold(&decode(&stored).unwrap(), &truth);
    }
}

#[test]
fn top_ten_of_zipf_is_exact() {
    let items = zipf_stream(300_000, 100_000, 1.1, 3);
    let weights = vec![1u64; items.len()];
    let truth = truth(&items, &weights);
    let t = sketch(&items, &weights, 1000);
    let mut expected: std::vec::Vec<(&String, &u64)> = truth.iter().collect();
    expected.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut entries = t.entries();
    entries.sort_by(rank_order);
    let guaranteed = guaranteed_in_top(&entries, t.absent(), 10);
    for i in 0..10 {
        assert_eq!(std::str::from_utf8(entries[i].item).unwrap(), expected[i].0);
        assert_eq!(
            (entries[i].lower, entries[i].upper),
            (*expected[i].1, *expected[i].1)
        );
        assert!(guaranteed[i]);
    }
}

#[test]
fn guaranteed_items_are_really_in_the_top() {
    let items = zipf_stream(100_000, 50_000, 0.9, 11);
    let weights = vec![1u64; items.len()];
    let truth = truth(&items, &weights);
    let t = sketch(&items, &weights, 30);
    let mut entries = t.entries();
    entries.sort_by(rank_order);
    let n = 20;
    let mut counts: std::vec::Vec<u64> = truth.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let nth = counts[n - 1];
    let mut guaranteed = 0;
    for (i, g) in guaranteed_in_top(&entries, t.absent(), n)
        .into_iter()
        .enumerate()
    {
        if g {
            guaranteed += 1;
            let f = truth[std::str::from_utf8(entries[i].item).unwrap()];
            assert!(
                f >= nth,
                "guaranteed item with {f} below the true {n}th count {nth}"
            );
        }
    }
    assert!(guaranteed > 0);
}

#[test]
fn stored_form_round_trips_and_is_canonical() {
    let items = zipf_stream(20_000, 5_000, 1.0, 5);
    let weights = vec![1u64; items.len()];
    let t = sketch(&items, &weights, 100);
    let bytes = encode_stored(&t);
    let view = decode(&bytes).unwrap();
    assert_eq!(view.len(), 100);
    let copy = TopN::from_source_in(&view, Global);
    assert_eq!(encode_stored(&copy), bytes);
    // Long items and empty items are fine.
    let mut long = TopN::new(3);
    long.add(&vec![b'x'; 100_000], 2).unwrap();
    long.add(b"", 1).unwrap();
    let bytes = encode_stored(&long);
    assert_eq!(decode(&bytes).unwrap().entries()[0].item.len(), 100_000);
}

#[test]
fn malformed_bytes_are_corrupt() {
    let good = {
        let mut t = TopN::new(5);
        t.add(b"a", 3).unwrap();
        t.add(b"b", 1).unwrap();
        encode_stored(&t)
    };
    assert!(decode(&good).is_ok());
    let mut cases: std::vec::Vec<std::vec::Vec<u8>> = vec![
        vec![],
        vec![2],
        good[..good.len() - 1].to_vec(),
        [good.clone(), vec![0]].concat(),
        vec![1, 0, 0, 0, 0],                               // zero counters
        vec![1, 1, 2, 0, 2, 1, b'a', 1, 0, 1, b'b', 1, 0], // two items, one counter
        vec![1, 5, 2, 0, 2, 1, b'b', 2, 0, 1, b'a', 1, 0], // wrong order? no: b(2) then a(1) is fine
        vec![1, 5, 2, 0, 2, 1, b'a', 1, 0, 1, b'a', 1, 0], // duplicate item
        vec![1, 5, 2, 0, 2, 1, b'a', 1, 0, 1, b'b', 2, 0], // ascending upper bounds
        vec![1, 5, 2, 0, 1, 1, b'a', 2, 1],                // error 1 > absent 0
        vec![1, 5, 2, 0, 1, 1, b'a', 1, 2],                // error > upper
        vec![1, 0x85, 0x00, 2, 0, 0],                      // non-minimal varint
        vec![1, 5, 2, 0, 1, 9, b'a', 1, 0],                // item longer than the value
    ];
    // The one valid case above: b then a in storage order.
    let valid = cases.remove(6);
    assert!(decode(&valid).is_ok());
    for c in cases {
        assert_eq!(
            decode_checked(&c).unwrap_err().kind,
            ErrorKind::Corrupt,
            "{c:?}"
        );
    }
    // The same item twice with different bounds: only the checked decode hashes the items.
    let twice = vec![1, 5, 3, 1, 2, 1, b'a', 2, 1, 1, b'a', 1, 1];
    assert!(decode(&twice).is_ok());
    assert_eq!(decode_checked(&twice).unwrap_err().kind, ErrorKind::Corrupt);
}

#[test]
fn parts_from_outside_are_validated_and_sorted() {
    let mut entries = vec![
        Entry {
            item: b"a",
            lower: 1,
            upper: 1,
        },
        Entry {
            item: b"b",
            lower: 5,
            upper: 5,
        },
    ];
    let bytes = encode_checked(10, 6, 0, &mut entries).unwrap();
    assert_eq!(decode(&bytes).unwrap().entries()[0].item, b"b");
    let mut dup = vec![
        Entry {
            item: b"a",
            lower: 1,
            upper: 1,
        },
        Entry {
            item: b"a",
            lower: 5,
            upper: 5,
        },
    ];
    assert_eq!(
        encode_checked(10, 6, 0, &mut dup).unwrap_err().kind,
        ErrorKind::InvalidParameter
    );
    assert_eq!(
        encode_checked(0, 6, 0, &mut []).unwrap_err().kind,
        ErrorKind::InvalidParameter
    );
}

#[test]
fn memory_is_bounded_by_the_working_set() {
    let items = zipf_stream(100_000, 100_000, 0.5, 9);
    let weights = vec![1u64; items.len()];
    let t = sketch(&items, &weights, 100);
    assert_eq!(t.len(), 300);
    assert!(t.heap_size() < 64 * 1024, "{}", t.heap_size());
}

#[test]
fn aggregate_states_round_trip_with_their_whole_working_set() {
    let items = zipf_stream(20_000, 10_000, 0.8, 21);
    let weights = vec![1u64; items.len()];
    let t = sketch(&items, &weights, 50);
    assert!(t.len() > 50);
    let bytes = super::codec::encode_state(&t);
    assert!(decode(&bytes).is_err(), "a state is not a stored sketch");
    let view = super::codec::decode_state(&bytes).unwrap();
    assert_eq!(view.len(), t.len());
    let copy = TopN::from_source_in(&view, Global);
    assert_eq!(super::codec::encode_state(&copy), bytes);
}

/// Middle ranks seen about as often as the unlisted bound rises: 10 heavy items (3 % of the
/// rows each), 10 middle ones (1 % each), half the rows unique. With 20 counters the unlisted
/// bound passes the middle items' counts; they must still be stored, with what was seen of them.
#[test]
fn middle_ranks_keep_their_counts_on_a_long_tail() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let items: std::vec::Vec<String> = (0..200_000)
        .map(|i| {
            let u: f64 = rng.random();
            if u < 0.3 {
                format!("heavy{}", (u * 100.0) as u32 % 10)
            } else if u < 0.4 {
                format!("middle{}", (u * 1000.0) as u32 % 10)
            } else {
                format!("tail{i}")
            }
        })
        .collect();
    let weights = vec![1u64; items.len()];
    let truth = truth(&items, &weights);
    let t = sketch(&items, &weights, 20);
    assert!(
        t.absent() > 2_000,
        "the unlisted bound {} should pass the middle items' counts",
        t.absent()
    );
    let (stored, _) = t.stored();
    for k in 0..10 {
        let name = format!("middle{k}");
        let e = stored
            .iter()
            .find(|e| e.item == name.as_bytes())
            .unwrap_or_else(|| panic!("{name} not stored"));
        assert!(
            e.lower * 10 >= truth[&name] * 9,
            "{name}: seen {} of {}",
            e.lower,
            truth[&name]
        );
    }
}

#[test]
fn tail_word_is_the_zero_padded_tail() {
    let bytes: Vec<u8> = (1..=40).map(|b| b * 5 + 3).collect();
    for len in 1..=bytes.len() {
        let item = &bytes[..len];
        let r = len % 8;
        if r == 0 {
            continue;
        }
        let mut padded = [0u8; 8];
        padded[..r].copy_from_slice(&item[len - r..]);
        assert_eq!(
            super::tail_word(item, r),
            u64::from_le_bytes(padded),
            "length {len}"
        );
    }
}

/// The eviction heap after every kind of add: a min-heap by (upper, lower) whose slots know
/// their positions, holding exactly the items not protected, and a table that finds every item.
fn assert_structure(t: &TopN) {
    if t.heap_built {
        for (pos, &s) in t.heap.iter().enumerate() {
            assert_eq!(
                t.slots[s as usize].heap_pos as usize, pos,
                "slot {s} does not know its heap position"
            );
            if pos > 0 {
                assert!(
                    t.key(t.heap[(pos - 1) / 2]) <= t.key(s),
                    "heap order broken at {pos}"
                );
            }
        }
        let unprotected = t
            .slots
            .iter()
            .filter(|slot| slot.heap_pos != PROTECTED)
            .count();
        assert_eq!(unprotected, t.heap.len());
    }
    for s in 0..t.slots.len() as u32 {
        let item = t.item(s);
        assert_eq!(t.slots[s as usize].hash, item_hash32(item));
        assert_eq!(t.find(item_hash32(item), item), Some(s));
    }
    // A table of every slot past SCAN_ITEMS items, none before.
    let expected = if t.slots.len() > SCAN_ITEMS {
        t.slots.len()
    } else {
        0
    };
    assert_eq!(t.table.len(), expected);
}

#[test]
fn heap_and_table_stay_consistent_through_evictions_and_merges() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let items = zipf_stream(60_000, 5_000, 1.05, 3);
    let mut t = TopN::new(50);
    for (i, item) in items.iter().enumerate() {
        // Weighted adds now and then move items far in the heap; varied lengths exercise the
        // in-place reuse of evicted bytes and the arena rewrites.
        let weight = if rng.random_range(0..20) == 0 {
            rng.random_range(1..50)
        } else {
            1
        };
        let item = if i % 7 == 0 {
            format!("{item}-longer-variant")
        } else {
            item.clone()
        };
        t.add(item.as_bytes(), weight).unwrap();
        if i % 997 == 0 {
            assert_structure(&t);
        }
        if i % 10_007 == 0 {
            let other = sketch(&items[..i.min(3_000)], &vec![1; i.min(3_000)], 40);
            t.union(&other);
            assert_structure(&t);
        }
    }
    assert_structure(&t);
}

/// Sketches of a few counters live without a table (SCAN_ITEMS) or cross into one and back
/// (trims), through evictions and merges: every item is found, and the bounds hold.
#[test]
fn small_sketches_find_items_with_and_without_a_table() {
    let items = zipf_stream(5_000, 300, 1.0, 5);
    for counters in [1, 2, 3, 4, 5] {
        let mut t = TopN::new(counters);
        let mut seen: std::vec::Vec<String> = std::vec::Vec::new();
        for (i, item) in items.iter().enumerate() {
            t.add(item.as_bytes(), 1).unwrap();
            seen.push(item.clone());
            if i % 101 == 0 {
                assert_structure(&t);
            }
            if i % 499 == 0 {
                let from = i.saturating_sub(40);
                t.union(&sketch(&items[from..=i], &vec![1; i + 1 - from], counters));
                seen.extend(items[from..=i].iter().cloned());
                assert_structure(&t);
            }
        }
        assert_structure(&t);
        assert_bounds_hold(&t, &truth(&seen, &vec![1; seen.len()]));
    }
}

#[test]
fn many_small_sketches_merge_within_a_bounded_working_set() {
    let items = zipf_stream(100_000, 50_000, 1.1, 21);
    let weights = vec![1u64; items.len()];
    let truth = truth(&items, &weights);
    let mut merged = TopN::new(50);
    let mut largest = 0;
    for chunk in items.chunks(5) {
        let part = encode_stored(&sketch(chunk, &weights[..chunk.len()], 50));
        merged.union(&decode(&part).unwrap());
        largest = largest.max(merged.len());
    }
    // Trimmed lazily, but never past half as much again as the working set.
    assert!(largest > 150 && largest <= 225, "{largest}");
    assert_bounds_hold(&merged, &truth);
    // The ten most frequent items are reported first, with their exact counts.
    let mut true_top: std::vec::Vec<(&String, &u64)> = truth.iter().collect();
    true_top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let (mut stored, _) = merged.stored();
    stored.sort_by(rank_order);
    for (e, (item, &n)) in stored.iter().zip(&true_top).take(10) {
        assert_eq!((e.item, e.lower), (item.as_bytes(), n));
    }
    assert_structure(&merged);
}

#[test]
fn selection_keeps_what_a_full_sort_keeps() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let names: std::vec::Vec<String> = (0..400)
        .map(|i| format!("item{}", i * 7919 % 400))
        .collect();
    for _ in 0..200 {
        // Few distinct bounds: most elements tie with others, often at the cut.
        let mut entries: std::vec::Vec<Entry> = names
            .iter()
            .map(|n| {
                let lower = rng.random_range(0..4u64);
                Entry {
                    item: n.as_bytes(),
                    lower,
                    upper: lower + rng.random_range(0..3u64),
                }
            })
            .collect();
        let keep = rng.random_range(0..entries.len());
        let mut sorted = entries.clone();
        sorted.sort_by(rank_order);
        super::select_ranked(&mut entries, keep, |e| (e.lower, e.upper), |e| e.item);
        let mut kept = entries[..keep].to_vec();
        kept.sort_by(rank_order);
        assert_eq!(kept, sorted[..keep]);
    }
}
