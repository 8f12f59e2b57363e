//! Emits HLL sketches of random streams at fixed cardinalities, as CSV rows
//! `log2m,run,n,\x<stored bytes>`, for `./pg_test.sh bench accuracy` (bench/run.sh) to estimate with both
//! pg_rollup and postgresql-hll (the sketches are byte-identical in both).
//!
//! cargo run --release -p rollup-core --example hll_accuracy -- <log2m> <runs>

use rand::{Rng, SeedableRng};
use rollup_core::hll::{codec, Hll, HllParams};
use rollup_core::murmur3::hll_hash;

#[path = "shared/checkpoints.rs"]
mod shared;
use shared::CHECKPOINTS;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let log2m: i64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(11);
    let runs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    // expthresh 0: measure the register estimator itself (with the default threshold, small
    // sets are explicit and exact).
    let params = HllParams::new(log2m, 5, 0, 1).unwrap();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for run in 0..runs {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_0000 + run * 7919 + log2m as u64);
        let mut hll = Hll::new(params);
        let mut n = 0u64;
        for &checkpoint in CHECKPOINTS {
            while n < checkpoint {
                let key: u64 = rng.random();
                hll.add_hash(hll_hash(&key.to_le_bytes(), 0));
                n += 1;
            }
            let bytes = codec::encode(&hll, -1);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            use std::io::Write;
            writeln!(out, "{log2m},{run},{n},\\x{hex}").unwrap();
        }
    }
}
