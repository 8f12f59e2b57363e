//! The estimator's error to a precision the stream runs of hll_accuracy cannot reach, from a
//! million runs per n: the registers of n random values are drawn directly instead of hashing
//! keys into a stored sketch.
//!
//! Below 10k values each run adds n random 64-bit hashes to registers (exactly what a sketch
//! does, with an ideal hash). From 10k on, registers are drawn from their exact distribution
//! under a Poisson number of values with mean n, about n/m times cheaper: a register is <= r
//! with probability exp(-(n/m)·2^-r) (the values falling on it are Poisson with mean n/m, each
//! with rank > r with probability 2^-r), so it is the smallest r with 2^r >= (n/m) / E for E
//! drawn from Exp(1). Estimates are measured against n; the variance the Poisson count adds,
//! 1/n relative, is subtracted from the squared error (registers given the count are those of
//! a fixed-size set, whose error does not change over the count's ±sqrt(n) range).
//!
//! cargo run --release -p rollup-core --example hll_error_model -- <log2m> <runs> [<n>...]
//!
//! (without n: hll_accuracy's cardinalities)
//!
//! Prints a markdown row per n: RMSE and bias of the maximum-likelihood estimate (what
//! hll_cardinality returns) and of the improved raw estimate it starts from, the RMSE's
//! sampling error and the 1.04/sqrt(m) bound.

use rand::{Rng, SeedableRng};
use rollup_core::hll::estimator::Histogram;
use rollup_core::hll::HllParams;

#[path = "shared/checkpoints.rs"]
mod shared;

/// Sums of relative errors and their squares, for the maximum-likelihood and the raw estimate.
#[derive(Default, Clone, Copy)]
struct Sums {
    ml: (f64, f64),
    raw: (f64, f64),
}

/// From this many values on, registers are drawn under a Poisson count.
const POISSON_FROM: u64 = 10_000;

fn simulate(params: HllParams, n: u64, runs: u64, seed: u64) -> Sums {
    let m = params.registers();
    let per_register = n as f64 / m as f64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut sums = Sums::default();
    let mut registers = vec![0u8; m];
    for _ in 0..runs {
        let mut hist = Histogram::new(params);
        if n < POISSON_FROM {
            registers.fill(0);
            for _ in 0..n {
                let (index, value) = params.register_update(rng.random());
                registers[index as usize] = registers[index as usize].max(value);
            }
            registers.iter().for_each(|&r| hist.add(r, 1));
        } else {
            for _ in 0..m {
                let e = -(1.0 - rng.random::<f64>()).ln();
                // Values past the saturated one are clamped by the histogram.
                let r = (per_register / e).log2().ceil().clamp(0.0, 255.0) as u8;
                hist.add(r, 1);
            }
        }
        for (sum, estimate) in [
            (&mut sums.ml, hist.estimate()),
            (&mut sums.raw, hist.raw_estimate()),
        ] {
            let rel = estimate / n as f64 - 1.0;
            sum.0 += rel;
            sum.1 += rel * rel;
        }
    }
    sums
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: hll_error_model <log2m> <runs> [<n>...]";
    let log2m: i64 = args.get(1).and_then(|a| a.parse().ok()).expect(usage);
    let runs: u64 = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
    let mut ns: Vec<u64> = args[3..].iter().map(|a| a.parse().expect(usage)).collect();
    if ns.is_empty() {
        ns = shared::CHECKPOINTS.to_vec();
    }
    let params = HllParams::new(log2m, 5, 0, 1).unwrap();
    let m = params.registers() as f64;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()) as u64;
    for n in ns {
        let parts: Vec<Sums> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let share = runs / threads + u64::from(t < runs % threads);
                    s.spawn(move || simulate(params, n, share, 0x00e5_7100 ^ n << 8 ^ t))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let total = |pick: fn(&Sums) -> (f64, f64)| {
            parts
                .iter()
                .map(pick)
                .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
        };
        let stats = |(sum, squares): (f64, f64)| {
            let bias = sum / runs as f64;
            let poisson = if n < POISSON_FROM {
                0.0
            } else {
                1.0 / n as f64
            };
            let rmse = (squares / runs as f64 - poisson).sqrt();
            (100.0 * rmse, 100.0 * bias)
        };
        let (ml_rmse, ml_bias) = stats(total(|s| s.ml));
        let (raw_rmse, raw_bias) = stats(total(|s| s.raw));
        let bound = 104.0 / m.sqrt();
        println!(
            "| {log2m} | {n} | {runs} | {ml_rmse:.4} | {ml_bias:.4} | {raw_rmse:.4} | {raw_bias:.4} | {:.4} | {bound:.4} | {} |",
            ml_rmse / (2.0 * runs as f64).sqrt(),
            if ml_rmse <= bound { "yes" } else { "NO" }
        );
    }
}
