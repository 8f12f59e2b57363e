//! Cardinality from registers with Otmar Ertl's improved raw estimator ("New cardinality
//! estimation algorithms for HyperLogLog sketches", 2017, algorithm 6).
//!
//! Unlike the classic estimator with a switch to linear counting at 2.5·m (the source of
//! postgresql-hll's ~1.5 % bias bump there) it is a single formula, nearly unbiased from the
//! smallest to the largest cardinalities, and it needs no empirical bias tables. It works from
//! the histogram of register values, so it also handles registers wider than 5 bits (where
//! postgresql-hll's large-range correction overflows to NaN).

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
        Histogram { lanes: [[0; 66]; 4], q, m: params.registers() }
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

    pub fn estimate(&self) -> f64 {
        let m = self.m as f64;
        let q = self.q;
        let mut counts: [u32; 66] = std::array::from_fn(|k| self.lanes.iter().map(|lane| lane[k]).sum());
        // With every register saturated the estimate is unbounded; report the estimate for
        // one register short of saturation instead, a finite lower bound.
        if counts[q + 1] as usize == self.m {
            counts[q + 1] -= 1;
            counts[q] += 1;
        }
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

    #[test]
    fn saturation_level_follows_width_and_hash_bits() {
        let five = Histogram::new(HllParams { regwidth: 5, ..HllParams::default() });
        assert_eq!(five.q, 30);
        let seven = Histogram::new(HllParams { regwidth: 7, ..HllParams::default() });
        assert_eq!(seven.q, 64 - 11);
    }

    #[test]
    fn wide_registers_give_finite_estimates() {
        for regwidth in 1..=7 {
            let p = HllParams { regwidth, ..HllParams::default() };
            let mut h = Histogram::new(p);
            h.add(p.max_register_value(), p.registers() as u32);
            let e = h.estimate();
            assert!(e.is_finite() && e > 0.0, "regwidth {regwidth}: {e}");
        }
    }
}
