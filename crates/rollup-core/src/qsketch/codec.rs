//! The stored form of a qsketch, version 2. Integers are unsigned LEB128 varints, floats
//! IEEE 754 doubles in little-endian order.
//!
//! ```text
//! byte 0    version (2)
//! 8 bytes   relative accuracy α asked for
//! byte      level           pairwise collapses (the accuracy is that of γ^(2^level))
//! varint    count           values counted
//! varint    zero count      values counted as zero
//! if count > 0: 8 bytes min, 8 bytes max, 8 bytes sum
//! twice, negative then positive bins:
//!   varint  2n + form       n bins (at most MAX_BINS) in form 0 (dense) or 1 (sparse)
//!   if n > 0: varint zigzag(lowest key), then
//!     dense:  n × varint zigzag(count − the previous bin's count), from the lowest key to the
//!             highest, one per key (the previous count of the first is 0; the counts of the
//!             lowest and highest keys are not zero)
//!     sparse: varint count, then n − 1 × (varint key − previous key − 1, varint count), the
//!             bins that are not empty, in key order
//! ```
//!
//! A sign is written in the shorter of its two forms (dense when they are equal length), and
//! the decoder accepts no other, so equal sketches have equal bytes; the counts add up to the
//! count. Partial aggregation states use the same form. Version 1 (pg_rollup 0.8.0) wrote every
//! sign dense, each count as it is (`varint n`, `varint zigzag(lowest key)`, n × `varint count`):
//! it is still read.

use allocator_api2::alloc::Allocator;

use super::{check_accuracy, QSketch, MAX_BINS, MAX_LEVEL};
use crate::error::{Error, Result};
use crate::varint::{self, Reader};

pub const VERSION: u8 = 2;

/// The largest key magnitude a stored sketch may have (a finite double's key is below 3.6
/// million at the finest accuracy).
const KEY_LIMIT: i32 = 1 << 22;

/// A decoded sketch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parts {
    pub alpha: f64,
    pub level: u32,
    pub count: u64,
    pub zero: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub neg_offset: i32,
    pub neg: Vec<u64>,
    pub pos_offset: i32,
    pub pos: Vec<u64>,
}

impl Parts {
    pub fn of<A: Allocator + Clone>(s: &QSketch<A>) -> Parts {
        let (neg_offset, neg) = dense(s.negative().bins());
        let (pos_offset, pos) = dense(s.positive().bins());
        let (min, max) = s.min_max().unwrap_or((0.0, 0.0));
        Parts {
            alpha: s.base_accuracy(),
            level: s.level(),
            count: s.count(),
            zero: s.zero_count(),
            min,
            max,
            sum: if s.count() > 0 { s.sum() } else { 0.0 },
            neg_offset,
            neg,
            pos_offset,
            pos,
        }
    }
}

/// The lowest key and the counts from it to the highest, of bins given in key order.
fn dense(bins: impl Iterator<Item = (i32, u64)>) -> (i32, Vec<u64>) {
    let mut out = (0, Vec::new());
    for (k, c) in bins {
        if out.1.is_empty() {
            out.0 = k;
        }
        out.1.resize((k - out.0) as usize, 0);
        out.1.push(c);
    }
    out
}

fn zigzag(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

/// A difference of two counts (modulo 2^64), small when the counts are close.
fn zigzag64(v: u64) -> u64 {
    (v << 1) ^ ((v as i64 >> 63) as u64)
}

fn unzigzag64(v: u64) -> u64 {
    (v >> 1) ^ (v & 1).wrapping_neg()
}

fn unzigzag(v: u64) -> Option<i32> {
    let v = u32::try_from(v).ok()?;
    Some(((v >> 1) as i32) ^ -((v & 1) as i32))
}

pub fn encode<A: Allocator + Clone>(s: &QSketch<A>) -> Vec<u8> {
    encode_parts(&Parts::of(s))
}

/// The bytes of `p` (decode them to validate parts that did not come from a sketch; zero
/// counts at either end of a sign's bins are left out).
pub fn encode_parts(p: &Parts) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + 2 * (p.neg.len() + p.pos.len()));
    out.push(VERSION);
    out.extend_from_slice(&p.alpha.to_le_bytes());
    out.push(p.level.min(255) as u8);
    varint::put(&mut out, p.count);
    varint::put(&mut out, p.zero);
    if p.count > 0 {
        for f in [p.min, p.max, p.sum] {
            out.extend_from_slice(&f.to_le_bytes());
        }
    }
    for (offset, bins) in [(p.neg_offset, &p.neg), (p.pos_offset, &p.pos)] {
        let first = bins.iter().position(|&c| c != 0).unwrap_or(bins.len());
        let last = bins.iter().rposition(|&c| c != 0).map_or(first, |l| l + 1);
        put_bins(&mut out, offset + first as i32, &bins[first..last]);
    }
    out
}

/// Trimmed bins, written in their shorter form.
fn put_bins(out: &mut Vec<u8>, offset: i32, bins: &[u64]) {
    let nonzero = bins.iter().filter(|&&c| c != 0).count();
    let sparse = sparse_is_shorter(bins, nonzero);
    varint::put(
        out,
        2 * (if sparse { nonzero } else { bins.len() }) as u64 + u64::from(sparse),
    );
    if bins.is_empty() {
        return;
    }
    varint::put(out, zigzag(offset));
    if sparse {
        let mut previous = None;
        for (i, &c) in bins.iter().enumerate().filter(|&(_, &c)| c != 0) {
            if let Some(p) = previous {
                varint::put(out, (i - p - 1) as u64);
            }
            varint::put(out, c);
            previous = Some(i);
        }
    } else {
        let mut previous = 0u64;
        for &c in bins {
            varint::put(out, zigzag64(c.wrapping_sub(previous)));
            previous = c;
        }
    }
}

/// Whether trimmed `bins`, `nonzero` of them not empty, are shorter written sparse.
fn sparse_is_shorter(bins: &[u64], nonzero: usize) -> bool {
    let len = |v: u64| varint::len(v);
    let mut dense = len(2 * bins.len() as u64);
    let mut sparse = len(2 * nonzero as u64 + 1);
    let (mut previous, mut previous_key) = (0u64, None);
    for (i, &c) in bins.iter().enumerate() {
        dense += len(zigzag64(c.wrapping_sub(previous)));
        previous = c;
        if c != 0 {
            sparse += len(c) + previous_key.map_or(0, |p: usize| len((i - p - 1) as u64));
            previous_key = Some(i);
        }
    }
    sparse < dense
}

fn float(r: &mut Reader, what: &str) -> Result<f64> {
    let b = r.bytes(8, what)?;
    let v = f64::from_le_bytes(b.try_into().expect("8 bytes"));
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::corrupt(format!(
            "qsketch {what} is not a finite number"
        )))
    }
}

fn bins(r: &mut Reader, sign: &str, version: u8) -> Result<(i32, Vec<u64>)> {
    let head = r.varint(&format!("{sign} bin count"))?;
    let (n, sparse) = match version {
        1 => (head, false),
        _ => (head / 2, head % 2 == 1),
    };
    if n > MAX_BINS as u64 {
        return Err(Error::corrupt(format!(
            "qsketch has {n} {sign} bins, more than {MAX_BINS}"
        )));
    }
    if n == 0 && sparse {
        return Err(Error::corrupt(format!(
            "qsketch {sign} bins are not in their shorter form"
        )));
    }
    if n == 0 {
        return Ok((0, Vec::new()));
    }
    // (keys of finite values at any accuracy are far inside ±KEY_LIMIT)
    let out_of_range = || Error::corrupt(format!("qsketch {sign} keys are out of range"));
    let offset = unzigzag(r.varint(&format!("{sign} lowest key"))?)
        .filter(|&o| (-KEY_LIMIT..=KEY_LIMIT).contains(&o))
        .ok_or_else(out_of_range)?;
    let what = format!("{sign} bin");
    let mut counts = Vec::with_capacity(n as usize);
    if sparse {
        for i in 0..n {
            if i > 0 {
                let gap = r.varint(&what)?;
                if gap >= MAX_BINS as u64 || counts.len() + gap as usize >= MAX_BINS {
                    return Err(Error::corrupt(format!(
                        "qsketch {sign} bins span more than {MAX_BINS} keys"
                    )));
                }
                counts.resize(counts.len() + gap as usize, 0);
            }
            match r.varint(&what)? {
                0 => {
                    return Err(Error::corrupt(format!(
                        "qsketch has an empty sparse {sign} bin"
                    )))
                }
                c => counts.push(c),
            }
        }
    } else {
        let mut previous = 0u64;
        for _ in 0..n {
            let c = match version {
                1 => r.varint(&what)?,
                _ => previous.wrapping_add(unzigzag64(r.varint(&what)?)),
            };
            counts.push(c);
            previous = c;
        }
    }
    if offset + (counts.len() as i32 - 1) > KEY_LIMIT {
        return Err(out_of_range());
    }
    if counts[0] == 0 || counts[counts.len() - 1] == 0 {
        return Err(Error::corrupt(format!(
            "qsketch {sign} bins are not trimmed of empty bins"
        )));
    }
    if version > 1 {
        let nonzero = counts.iter().filter(|&&c| c != 0).count();
        if sparse_is_shorter(&counts, nonzero) != sparse {
            return Err(Error::corrupt(format!(
                "qsketch {sign} bins are not in their shorter form"
            )));
        }
    }
    Ok((offset, counts))
}

/// Decodes and validates a stored sketch (XX001 on anything that is not one).
pub fn decode(bytes: &[u8]) -> Result<Parts> {
    let mut r = Reader::new(bytes, "qsketch");
    let version = r.bytes(1, "header")?[0];
    if !(1..=VERSION).contains(&version) {
        return Err(Error::corrupt(format!(
            "unknown qsketch format version {version}"
        )));
    }
    let alpha = float(&mut r, "relative accuracy")?;
    check_accuracy(alpha).map_err(|_| {
        Error::corrupt(format!("qsketch relative accuracy {alpha} is out of range"))
    })?;
    let level = u32::from(r.bytes(1, "level")?[0]);
    if level > MAX_LEVEL {
        return Err(Error::corrupt(format!(
            "qsketch level {level} is out of range"
        )));
    }
    let mut p = Parts {
        alpha,
        level,
        count: r.varint("count")?,
        zero: r.varint("zero count")?,
        ..Parts::default()
    };
    if p.count > 0 {
        p.min = float(&mut r, "minimum")?;
        p.max = float(&mut r, "maximum")?;
        p.sum = float(&mut r, "sum")?;
    }
    (p.neg_offset, p.neg) = bins(&mut r, "negative", version)?;
    (p.pos_offset, p.pos) = bins(&mut r, "positive", version)?;
    r.finish()?;

    let total = p
        .neg
        .iter()
        .chain(&p.pos)
        .try_fold(p.zero, |a, &c| a.checked_add(c));
    if total != Some(p.count) {
        return Err(Error::corrupt(
            "qsketch bin counts do not add up to its count",
        ));
    }
    if p.count > 0
        && (p.min > p.max
            || (!p.neg.is_empty() && p.min >= 0.0)
            || (!p.pos.is_empty() && p.max <= 0.0)
            || (p.zero > 0 && (p.min > 0.0 || p.max < 0.0)))
    {
        return Err(Error::corrupt(
            "qsketch minimum and maximum do not match its bins",
        ));
    }
    Ok(p)
}
