/// The cardinalities at which the accuracy examples measure the estimator (n = 10..10M,
/// with 2.5·m for log2m 11 and 14 among them, where a switch to linear counting would show).
pub const CHECKPOINTS: &[u64] = &[
    10, 20, 50, 100, 200, 500, 1_000, 2_000, 3_000, 4_000, 5_120, 6_000, 8_000, 10_000, 20_000,
    40_960, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000,
];
