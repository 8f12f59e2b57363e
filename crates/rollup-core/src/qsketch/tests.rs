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
        assert_eq!(forward.positive().trimmed(), s.positive().trimmed());
        assert_eq!(forward.negative().trimmed(), s.negative().trimmed());
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
    let (_, bins) = s.positive().trimmed();
    assert!(bins.len() <= MAX_BINS);
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
    assert_eq!(s.positive().trimmed(), reversed.positive().trimmed());
    // Merged from a fine part and a wide part, in both orders: the same as all at once.
    let (fine, wide) = (sketch(0.01, &values[..100]), sketch(0.01, &values[100..]));
    for (a, b) in [(&fine, &wide), (&wide, &fine)] {
        let mut m = a.clone();
        m.union(b).unwrap();
        assert_eq!(
            (m.level(), m.positive().trimmed()),
            (s.level(), s.positive().trimmed())
        );
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
