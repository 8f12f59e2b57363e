//! Cardinality from registers: the maximum-likelihood estimate, started from Otmar Ertl's
//! improved raw estimator ("New cardinality estimation algorithms for HyperLogLog sketches",
//! 2017, algorithm 6).
//!
//! Unlike the classic estimator with a switch to linear counting at 2.5·m (the source of
//! postgresql-hll's ~1.5 % bias bump there) both are single formulas over the whole range, nearly
//! unbiased from the smallest to the largest cardinalities, with no empirical bias tables. Both
//! work from the histogram of register values, so they also handle registers wider than 5 bits
//! (where postgresql-hll's large-range correction overflows to NaN).
//!
//! Why the likelihood step: at large n the raw estimate's relative standard error is
//! sqrt(3 ln 2 - 1)/sqrt(m) = 1.0390/sqrt(m), while the Cramér-Rao bound of HyperLogLog's
//! registers, which the maximum-likelihood estimate reaches, is 1.0367/sqrt(m) (see
//! BENCHMARKS.md for both measured).
//!
//! The model (Poisson approximation, x = expected values per register): a register is <= r with
//! probability exp(-x·2^-r) for r <= q and always <= q + 1, the saturated value. Setting the
//! derivative of the log-likelihood of a histogram C to zero gives, with f(t) = t / (e^t - 1),
//!
//! ```text
//! x · (C_0 + Σ_{r=1..q} C_r·2^-r) = Σ_{r=1..q} C_r·f(x·2^-r) + C_{q+1}·f(x·2^-q)
//! ```
//!
//! whose left side increases and right side decreases in x: one root, found by Newton's method.

use super::HllParams;

/// Counts of registers per value. Values above the largest meaningful value (q + 1) can only
/// come from hand-made bytes; they are counted as saturated.
pub struct Histogram {
    /// Four interleaved count arrays, so that runs of equal register values do not serialise
    /// on one counter; summed by `estimate`. Index q + 1 collects every saturated value.
    lanes: [[u32; 66]; 4],
    /// Register values 1..=q are exact ranks; q + 1 means "q + 1 or more".
    q: usize,
    m: usize,
}

impl Histogram {
    pub fn new(params: HllParams) -> Self {
        // A hash leaves 64 - log2m bits for the rank, and the register saturates at 2^w - 1.
        let saturated = usize::from(params.max_register_value());
        let q = (saturated - 1).min(64 - usize::from(params.log2m));
        Histogram {
            lanes: [[0; 66]; 4],
            q,
            m: params.registers(),
        }
    }

    #[inline(always)]
    fn slot(&self, value: u8) -> usize {
        usize::from(value).min(self.q + 1)
    }

    #[inline(always)]
    pub fn add(&mut self, value: u8, n: u32) {
        let slot = self.slot(value);
        self.lanes[0][slot] += n;
    }

    /// The histogram of a sketch's registers read one by one (zeros counted by difference).
    pub fn of_registers(source: &impl super::HllSource) -> Self {
        let params = source.params();
        let mut hist = Histogram::new(params);
        let mut filled = 0;
        source.for_each_register(|_, v| {
            hist.add(v, 1);
            filled += 1;
        });
        hist.add(0, (params.registers() - filled) as u32);
        hist
    }

    /// Counts 8 register values.
    #[inline(always)]
    pub fn add_group(&mut self, values: &[u8; 8]) {
        let top = self.q + 1;
        for (j, &v) in values.iter().enumerate() {
            self.lanes[j & 3][usize::from(v).min(top)] += 1;
        }
    }

    /// The maximum-likelihood estimate.
    pub fn estimate(&self) -> f64 {
        let counts = self.counts();
        if counts[0] as usize == self.m {
            return 0.0;
        }
        let m = self.m as f64;
        m * max_likelihood_rate(&counts, self.q, raw_estimate(&counts, self.q, m) / m)
    }

    /// The improved raw estimate alone, where the maximum-likelihood search starts.
    pub fn raw_estimate(&self) -> f64 {
        raw_estimate(&self.counts(), self.q, self.m as f64)
    }

    /// The lanes summed. With every register saturated the estimate is unbounded: counted as
    /// one register short of saturation instead, for a finite lower bound.
    fn counts(&self) -> [u32; 66] {
        let mut counts: [u32; 66] =
            std::array::from_fn(|k| self.lanes.iter().map(|lane| lane[k]).sum());
        if counts[self.q + 1] as usize == self.m {
            counts[self.q + 1] -= 1;
            counts[self.q] += 1;
        }
        counts
    }
}

fn raw_estimate(counts: &[u32; 66], q: usize, m: f64) -> f64 {
    let mut z = m * tau(1.0 - f64::from(counts[q + 1]) / m);
    for k in (1..=q).rev() {
        z = 0.5 * (z + f64::from(counts[k]));
    }
    z += m * sigma(f64::from(counts[0]) / m);
    if z.is_infinite() {
        return 0.0;
    }
    let alpha_inf = 1.0 / (2.0 * std::f64::consts::LN_2);
    alpha_inf * m * m / z
}

/// The root x of the likelihood equation in the module comment for histogram `counts` (not all
/// zero, not all saturated), from `start` (the raw estimate, within a fraction of a percent of it
/// at large n, so two or three Newton steps). The left side minus the right is increasing and
/// concave in x, so every step after the first approaches the root from below; steps that would
/// leave the bracket known to hold the root bisect it instead.
fn max_likelihood_rate(counts: &[u32; 66], q: usize, start: f64) -> f64 {
    // Register values 1..=q weigh C_r at exponent r; the saturated ones count at exponent q
    // (with q = 0, registers of one bit: linear counting, x = ln(m / C_0)).
    let mut c = [0.0f64; 66];
    let (mut a, mut w) = (f64::from(counts[0]), 1.0);
    for r in 1..=q {
        c[r] = f64::from(counts[r]);
        w *= 0.5;
        a += c[r] * w;
    }
    c[q] += f64::from(counts[q + 1]);
    let lowest = (0..=q).find(|&r| c[r] > 0.0).unwrap_or(q).max(1).min(q);
    let highest = (lowest..=q).rev().find(|&r| c[r] > 0.0).unwrap_or(q);

    // g(x) and g'(x). e^t - 1 for t = x·2^-r is computed once at the smallest t, then doubled
    // (e^2t - 1 = d·(d + 2)) towards r = lowest: no cancellation at small t, one exp per call.
    let g = |x: f64| -> (f64, f64) {
        let mut w = (-(highest as f64)).exp2();
        let mut t = x * w;
        let mut inv_t = 1.0 / t;
        let mut d = t.exp_m1();
        let (mut value, mut slope) = (x * a, a);
        for r in (lowest..=highest).rev() {
            if c[r] > 0.0 {
                let f = if d > 0.0 { t / d } else { 1.0 };
                // f'(t) = f·(1 - f)/t - f, -1/2 at t -> 0.
                let df = if t > 1e-6 {
                    f * (1.0 - f) * inv_t - f
                } else {
                    -0.5 + t / 6.0
                };
                value -= c[r] * f;
                slope -= c[r] * df * w;
            }
            d *= d + 2.0;
            t *= 2.0;
            inv_t *= 0.5;
            w *= 2.0;
        }
        (value, slope)
    };

    let (mut lo, mut hi) = (0.0f64, f64::INFINITY);
    let mut x = start.max(f64::MIN_POSITIVE);
    for _ in 0..100 {
        let (value, slope) = g(x);
        if value < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let mut next = x - value / slope;
        if !(next > lo && next < hi) {
            next = if hi.is_finite() {
                0.5 * (lo + hi)
            } else {
                2.0 * x
            };
        }
        // Newton's relative error after a step is about the square of the step's: a step
        // under 1e-6 leaves an error of about 1e-12 (two steps from the raw estimate).
        if (next - x).abs() <= 1e-6 * x || !next.is_finite() {
            return next;
        }
        x = next;
    }
    x
}

/// σ(x) = x + Σ_{k≥1} x^(2^k) · 2^(k-1)
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if z == previous {
            return z;
        }
    }
}

/// τ(x) = (1 - x - Σ_{k≥1} (1 - x^(2^-k))² · 2^-k) / 3
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == previous {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_zero_registers_estimate_zero() {
        let p = HllParams::default();
        let mut h = Histogram::new(p);
        h.add(0, p.registers() as u32);
        assert_eq!(h.estimate(), 0.0);
    }

    #[test]
    fn one_filled_register_estimates_about_one() {
        let p = HllParams::default();
        let mut h = Histogram::new(p);
        h.add(0, p.registers() as u32 - 1);
        h.add(1, 1);
        let e = h.estimate();
        assert!((0.9..1.1).contains(&e), "{e}");
    }

    /// The log-likelihood of a histogram under the model of the module comment, written
    /// directly from the register probabilities.
    fn log_likelihood(counts: &[u32; 66], q: usize, x: f64) -> f64 {
        let below = |r: usize| (-x * (-(r as f64)).exp2()).exp(); // P(register <= r)
        let term = |count: u32, p: f64| {
            if count == 0 {
                0.0
            } else {
                f64::from(count) * p.ln()
            }
        };
        let mut sum = term(counts[0], below(0));
        for (r, &count) in counts.iter().enumerate().take(q + 1).skip(1) {
            sum += term(count, below(r) - below(r - 1));
        }
        sum + term(counts[q + 1], 1.0 - below(q))
    }

    /// Registers of `n` random values, the way a sketch fills them.
    fn histogram_of_random_values(p: HllParams, n: u64, rng: &mut impl rand::Rng) -> Histogram {
        let mut regs = vec![0u8; p.registers()];
        for _ in 0..n {
            let (index, value) = p.register_update(rng.random());
            regs[index as usize] = regs[index as usize].max(value);
        }
        let mut h = Histogram::new(p);
        regs.iter().for_each(|&v| h.add(v, 1));
        h
    }

    #[test]
    fn estimate_maximises_the_likelihood() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for (log2m, regwidth) in [(4, 5), (8, 3), (11, 5), (11, 6), (12, 4)] {
            let p = HllParams::new(log2m, regwidth, 0, 1).unwrap();
            for n in [1, 3, 10, 100, 1_000, 5_000, 30_000, 200_000] {
                let h = histogram_of_random_values(p, n, &mut rng);
                let counts = h.counts();
                // Golden-section search on log x, far from the estimate's own Newton steps.
                let f = |lx: f64| log_likelihood(&counts, h.q, lx.exp());
                let (mut lo, mut hi) = (-20.0f64, 50.0f64);
                let golden = (5f64.sqrt() - 1.0) / 2.0;
                while hi - lo > 1e-11 {
                    let (a, b) = (hi - golden * (hi - lo), lo + golden * (hi - lo));
                    if f(a) < f(b) {
                        lo = a
                    } else {
                        hi = b
                    }
                }
                // The search locates a flat maximum to about sqrt(machine epsilon); the estimate
                // must agree with it that closely and be at least as likely.
                let best = 0.5 * (lo + hi);
                let e = h.estimate();
                let at = |x: f64| f((x / h.m as f64).ln());
                assert!(
                    (e / (h.m as f64 * best.exp()) - 1.0).abs() < 1e-6,
                    "log2m {log2m} regwidth {regwidth} n {n}: {e} vs {}",
                    h.m as f64 * best.exp()
                );
                assert!(
                    at(e) >= f(best) - 1e-9 * f(best).abs(),
                    "log2m {log2m} regwidth {regwidth} n {n}"
                );
            }
        }
    }

    /// Raising one register never lowers the estimate (the likelihood equation's left side
    /// falls at every x, so its root rises), through saturation, at every width.
    #[test]
    fn estimate_rises_with_every_register() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for (log2m, regwidth) in [(4, 1), (4, 5), (8, 2), (11, 5), (11, 6), (14, 7)] {
            let p = HllParams::new(log2m, regwidth, 0, 1).unwrap();
            for n in [0, 5, 500, 50_000, 5_000_000] {
                let start = histogram_of_random_values(p, n, &mut rng);
                let mut counts = start.counts();
                let mut previous = start.estimate();
                // Move registers up one value at a time, from the lowest value present.
                for _ in 0..3 * p.registers() {
                    let Some(r) = (0..=start.q).find(|&r| counts[r] > 0) else {
                        break;
                    };
                    counts[r] -= 1;
                    counts[r + 1] += 1;
                    let mut h = Histogram::new(p);
                    counts
                        .iter()
                        .enumerate()
                        .for_each(|(v, &c)| h.add(v as u8, c));
                    let e = h.estimate();
                    assert!(
                        e.is_finite() && e >= previous * (1.0 - 1e-12),
                        "log2m {log2m} regwidth {regwidth} n {n}: {e} < {previous}"
                    );
                    previous = e;
                }
            }
        }
    }

    #[test]
    fn one_bit_registers_give_linear_counting() {
        let p = HllParams {
            regwidth: 1,
            ..HllParams::default()
        };
        let m = p.registers() as f64;
        for filled in [1u32, 10, 700, 2000] {
            let mut h = Histogram::new(p);
            h.add(0, p.registers() as u32 - filled);
            h.add(1, filled);
            let expected = m * (m / (m - f64::from(filled))).ln();
            assert!(
                (h.estimate() / expected - 1.0).abs() < 1e-12,
                "{filled}: {} vs {expected}",
                h.estimate()
            );
        }
    }

    #[test]
    fn saturation_level_follows_width_and_hash_bits() {
        let five = Histogram::new(HllParams {
            regwidth: 5,
            ..HllParams::default()
        });
        assert_eq!(five.q, 30);
        let seven = Histogram::new(HllParams {
            regwidth: 7,
            ..HllParams::default()
        });
        assert_eq!(seven.q, 64 - 11);
    }

    #[test]
    fn wide_registers_give_finite_estimates() {
        for regwidth in 1..=7 {
            let p = HllParams {
                regwidth,
                ..HllParams::default()
            };
            let mut h = Histogram::new(p);
            h.add(p.max_register_value(), p.registers() as u32);
            let e = h.estimate();
            assert!(e.is_finite() && e > 0.0, "regwidth {regwidth}: {e}");
        }
    }
}
