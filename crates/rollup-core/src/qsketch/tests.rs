use allocator_api2::alloc::Global;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::codec::{decode, encode};
use super::*;

fn sketch(alpha: f64, values: &[f64]) -> QSketch<Global> {
    let mut s = QSketch::new_in(alpha, Global).unwrap();
    for &v in values {
        s.add(v, 1).unwrap();
    }
    s
}

/// percentile_disc(q) of sorted values.
fn exact(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len() as f64;
    let rank = ((q * n).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1);
    sorted[rank]
}

fn within(estimate: f64, truth: f64, alpha: f64) -> bool {
    (estimate - truth).abs() <= alpha * truth.abs() * (1.0 + 1e-9) + 1e-300
}

/// Skewed data of both signs with zeros: log-normal latencies, some negatives, some zeros.
fn data(rng: &mut StdRng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let u: f64 = rng.random();
            let magnitude = (rng.random::<f64>() * 12.0 - 4.0).exp() * (1.0 + rng.random::<f64>());
            if u < 0.05 {
                0.0
            } else if u < 0.2 {
                -magnitude
            } else {
                magnitude
            }
        })
        .collect()
}

const QS: [f64; 12] = [
    0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1.0,
];

#[test]
fn every_quantile_is_within_the_relative_accuracy() {
    let mut rng = StdRng::seed_from_u64(7);
    for &alpha in &[0.01, 0.001, 0.05] {
        let mut values = data(&mut rng, 50_000);
        let s = sketch(alpha, &values);
        values.sort_by(f64::total_cmp);
        for &q in &QS {
            let est = s.quantile(q).unwrap().unwrap();
            let truth = exact(&values, q);
            let bound = s.relative_accuracy();
            assert!(
                within(est, truth, bound),
                "alpha {alpha} (now {bound}) q {q}: {est} vs {truth}"
            );
        }
        assert_eq!(s.count(), 50_000);
        // 1 % and 5 % cover these 5 orders of magnitude; 0.1 % collapsed to stay in MAX_BINS.
        assert_eq!(s.level() > 0, alpha < 0.01, "alpha {alpha}");
        assert!(s.relative_accuracy() < 4.0 * alpha);
        assert_eq!(s.min_max(), Some((values[0], values[values.len() - 1])));
    }
}

#[test]
fn merging_hundreds_of_partial_sketches_keeps_the_guarantee_in_any_order() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut all = Vec::new();
    let parts: std::vec::Vec<QSketch<Global>> = (0..300)
        .map(|i| {
            let v = data(&mut rng, 50 + i * 3);
            all.extend_from_slice(&v);
            sketch(0.01, &v)
        })
        .collect();
    let mut forward = QSketch::new_in(0.01, Global).unwrap();
    for p in &parts {
        forward.union(p).unwrap();
    }
    let mut backward = QSketch::new_in(0.01, Global).unwrap();
    for p in parts.iter().rev() {
        backward.union(p).unwrap();
    }
    let whole = sketch(0.01, &all);
    // The bins, count, zeros, minimum and maximum are the same whatever the order.
    for s in [&backward, &whole] {
        assert!(forward.positive().bins().eq(s.positive().bins()));
        assert!(forward.negative().bins().eq(s.negative().bins()));
        assert_eq!(
            (forward.count(), forward.zero_count(), forward.min_max()),
            (s.count(), s.zero_count(), s.min_max())
        );
        assert!((forward.sum() - s.sum()).abs() <= 1e-9 * s.sum().abs().max(1.0));
    }
    all.sort_by(f64::total_cmp);
    for &q in &QS {
        let est = forward.quantile(q).unwrap().unwrap();
        assert!(
            within(est, exact(&all, q), forward.relative_accuracy()),
            "q {q}"
        );
    }
}

#[test]
fn memory_is_bounded_and_the_largest_magnitudes_keep_their_guarantee() {
    // Values over 30 orders of magnitude: more than MAX_BINS bins at 1 %, fewer at 2 %.
    let values: std::vec::Vec<f64> = (0..20_000)
        .map(|i| 10f64.powf(-15.0 + 30.0 * i as f64 / 20_000.0))
        .collect();
    let s = sketch(0.01, &values);
    let (low, top) = s.positive().span().unwrap();
    assert!(top - low < MAX_BINS as i32);
    assert_eq!(s.count(), 20_000);
    // One collapse: every quantile within about 2 %.
    assert_eq!(s.level(), 1);
    assert!((s.relative_accuracy() - 2.0 * 0.01 / (1.0 + 0.01 * 0.01)).abs() < 1e-12);
    for &q in &QS {
        let est = s.quantile(q).unwrap().unwrap();
        assert!(
            within(est, exact(&values, q), s.relative_accuracy()),
            "q {q}"
        );
    }
    // Added in the other order (smallest last), the same bins.
    let mut reversed = QSketch::new_in(0.01, Global).unwrap();
    for &v in values.iter().rev() {
        reversed.add(v, 1).unwrap();
    }
    assert!(s.positive().bins().eq(reversed.positive().bins()));
    // Merged from a fine part and a wide part, in both orders: the same as all at once.
    let (fine, wide) = (sketch(0.01, &values[..100]), sketch(0.01, &values[100..]));
    for (a, b) in [(&fine, &wide), (&wide, &fine)] {
        let mut m = a.clone();
        m.union(b).unwrap();
        assert_eq!(m.level(), s.level());
        assert!(m.positive().bins().eq(s.positive().bins()));
    }
}

#[test]
fn encoding_round_trips_and_is_canonical() {
    let mut rng = StdRng::seed_from_u64(3);
    for n in [0usize, 1, 2, 100, 5000] {
        let s = sketch(0.02, &data(&mut rng, n));
        let bytes = encode(&s);
        let parts = decode(&bytes).unwrap();
        let back = QSketch::from_parts_in(&parts, Global);
        assert_eq!(encode(&back), bytes);
    }
    // Empty: version, accuracy, two zero counts, two empty stores.
    assert_eq!(
        encode(&QSketch::new_in(0.01, Global).unwrap()).len(),
        1 + 8 + 1 + 1 + 1 + 2
    );
}

#[test]
fn ranks_and_edges() {
    let s = sketch(0.01, &[1.0, 2.0, 3.0, 4.0, 0.0, -5.0]);
    assert_eq!(s.rank(-10.0).unwrap(), Some(0.0));
    assert_eq!(s.rank(4.0).unwrap(), Some(1.0));
    assert_eq!(s.rank(0.0).unwrap(), Some(2.0 / 6.0));
    assert_eq!(s.quantile(0.0).unwrap(), Some(-5.0));
    assert_eq!(s.quantile(1.0).unwrap(), Some(4.0));
    assert!(s.quantile(1.5).is_err());
    assert!(s.rank(f64::NAN).is_err());
    let mut e = QSketch::new_in(0.01, Global).unwrap();
    assert_eq!(e.quantile(0.5).unwrap(), None);
    assert_eq!(e.rank(1.0).unwrap(), None);
    assert!(e.add(f64::NAN, 1).is_err());
    assert!(e.add(f64::INFINITY, 1).is_err());
    e.add(f64::MAX, 1).unwrap();
    e.add(-f64::MAX, 1).unwrap();
    e.add(f64::MIN_POSITIVE / 4.0, 1).unwrap();
    assert_eq!(e.quantile(1.0).unwrap(), Some(f64::MAX));
    assert_eq!(e.quantile(0.0).unwrap(), Some(-f64::MAX));
    assert_eq!(e.quantile(0.5).unwrap(), Some(0.0));
    assert!(QSketch::new_in(0.0, Global).is_err());
    assert!(QSketch::new_in(0.6, Global).is_err());
    let other = sketch(0.02, &[1.0]);
    assert_eq!(
        e.union(&other).unwrap_err().kind,
        crate::ErrorKind::Mismatch
    );
}

#[test]
fn truncated_bytes_are_corrupt_errors() {
    let mut rng = StdRng::seed_from_u64(5);
    let good = encode(&sketch(0.01, &data(&mut rng, 300)));
    // Every truncation.
    for len in 0..good.len() {
        assert!(decode(&good[..len]).is_err(), "truncated to {len}");
    }
    // (Mutations and random bytes: tests/fuzz.rs.)
}

#[test]
fn sparse_and_dense_bins_count_the_same() {
    use std::collections::BTreeMap;
    let mut rng = StdRng::seed_from_u64(13);
    for round in 0..200 {
        let mut store = Store::new_in(Global);
        let mut truth = BTreeMap::new();
        let keys = rng.random_range(1..400);
        for _ in 0..rng.random_range(0..600) {
            let k = rng.random_range(-5..keys) * if round % 2 == 0 { 1 } else { 7 } % 2000;
            // Now and then a count past 32 bits, which a sparse bin cannot hold.
            let n = if rng.random_ratio(1, 300) {
                1 << 33
            } else {
                rng.random_range(1..4)
            };
            store.add(k, n);
            *truth.entry(k).or_insert(0u64) += n;
        }
        let expected: std::vec::Vec<(i32, u64)> = truth.iter().map(|(&k, &c)| (k, c)).collect();
        assert!(store.bins().eq(expected.iter().copied()), "round {round}");
        assert_eq!(
            store.is_sparse(),
            truth.len() <= SPARSE_MAX && truth.values().all(|&c| c <= u32::MAX.into())
                || truth.is_empty(),
            "round {round}"
        );
        // Collapsing a sparse store gives the bins of collapsing it dense.
        let levels = rng.random_range(1..4);
        let mut dense = store.clone();
        dense.densify();
        store.collapse(levels);
        dense.collapse(levels);
        assert!(store.bins().eq(dense.bins()), "round {round}");
    }
}

/// A sketch's bytes with every sign dense: version 1's form (each count as it is), or version
/// 2's dense form (counts as differences).
fn encode_dense(p: &codec::Parts, version: u8) -> std::vec::Vec<u8> {
    let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    let mut out = vec![version];
    out.extend_from_slice(&p.alpha.to_le_bytes());
    out.push(p.level as u8);
    crate::varint::put(&mut out, p.count);
    crate::varint::put(&mut out, p.zero);
    if p.count > 0 {
        for f in [p.min, p.max, p.sum] {
            out.extend_from_slice(&f.to_le_bytes());
        }
    }
    for (offset, bins) in [(p.neg_offset, &p.neg), (p.pos_offset, &p.pos)] {
        let n = bins.len() as u64;
        crate::varint::put(&mut out, if version == 1 { n } else { 2 * n });
        if !bins.is_empty() {
            crate::varint::put(&mut out, zigzag(offset.into()));
            let mut previous = 0;
            for &c in bins {
                let c = c as i64;
                crate::varint::put(
                    &mut out,
                    if version == 1 {
                        c as u64
                    } else {
                        zigzag(c - previous)
                    },
                );
                previous = c;
            }
        }
    }
    out
}

#[test]
fn each_sign_is_stored_in_its_shorter_form_and_version_1_still_reads() {
    let mut rng = StdRng::seed_from_u64(17);
    // 20 values over 3 orders of magnitude: sparse; 50k values: dense, counts as differences.
    let few: std::vec::Vec<f64> = (0..20)
        .map(|_| 10f64.powf(rng.random_range(0.0..3.0)))
        .collect();
    let many: std::vec::Vec<f64> = (0..50_000)
        .map(|_| (rng.random::<f64>() * 6.0).exp() + (rng.random::<f64>() * 6.0).exp())
        .collect();
    for values in [&few, &many] {
        let s = sketch(0.01, values);
        let bytes = encode(&s);
        let parts = decode(&bytes).unwrap();
        let v1 = encode_dense(&parts, 1);
        assert!(bytes.len() < v1.len(), "{} vs {}", bytes.len(), v1.len());
        // Version 1 reads as the same sketch, which stores as version 2.
        assert_eq!(decode(&v1).unwrap(), parts);
        assert_eq!(
            encode(&QSketch::from_parts_in(&decode(&v1).unwrap(), Global)),
            bytes
        );
    }
    // The sparse sketch is a third of its version 1 bytes; the dense one's differences save
    // a byte on the bins with counts of 128 and more.
    let sizes = |v: &[f64]| {
        let bytes = encode(&sketch(0.01, v));
        (bytes.len(), encode_dense(&decode(&bytes).unwrap(), 1).len())
    };
    let (few_v2, few_v1) = sizes(&few);
    assert!(few_v2 * 3 < few_v1, "{few_v2} vs {few_v1}");
    // A form that is not the shorter one is refused: `few` written dense.
    let parts = decode(&encode(&sketch(0.01, &few))).unwrap();
    let err = decode(&encode_dense(&parts, codec::VERSION)).unwrap_err();
    assert!(err.message.contains("shorter form"), "{}", err.message);
    // Dense bytes of `many` are what the encoder writes.
    let parts = decode(&encode(&sketch(0.01, &many))).unwrap();
    assert_eq!(
        encode_dense(&parts, codec::VERSION),
        codec::encode_parts(&parts)
    );
}
