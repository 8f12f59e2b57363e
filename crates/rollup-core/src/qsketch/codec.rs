//! The stored form of a qsketch, version 1. Integers are unsigned LEB128 varints, floats
//! IEEE 754 doubles in little-endian order.
//!
//! ```text
//! byte 0    version (1)
//! 8 bytes   relative accuracy α asked for
//! byte      level           pairwise collapses (the accuracy is that of γ^(2^level))
//! varint    count           values counted
//! varint    zero count      values counted as zero
//! if count > 0: 8 bytes min, 8 bytes max, 8 bytes sum
//! twice, negative then positive bins:
//!   varint  bins n          (at most MAX_BINS)
//!   if n > 0: varint zigzag(lowest key), n × varint count (the first and last not zero)
//! ```
//!
//! The bins are trimmed of zero counts at both ends, so equal sketches have equal bytes, and
//! the counts add up to the count. Partial aggregation states use the same form.

use allocator_api2::alloc::Allocator;

use super::{check_accuracy, QSketch, MAX_BINS, MAX_LEVEL};
use crate::error::{Error, Result};
use crate::varint::{self, Reader};

pub const VERSION: u8 = 1;

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
        let (neg_offset, neg) = s.negative().trimmed();
        let (pos_offset, pos) = s.positive().trimmed();
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
            neg: neg.to_vec(),
            pos_offset,
            pos: pos.to_vec(),
        }
    }
}

fn zigzag(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

fn unzigzag(v: u64) -> Option<i32> {
    let v = u32::try_from(v).ok()?;
    Some(((v >> 1) as i32) ^ -((v & 1) as i32))
}

pub fn encode<A: Allocator + Clone>(s: &QSketch<A>) -> Vec<u8> {
    encode_parts(&Parts::of(s))
}

/// The bytes of `p` as given (decode them to validate parts that did not come from a sketch).
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
        varint::put(&mut out, bins.len() as u64);
        if !bins.is_empty() {
            varint::put(&mut out, zigzag(offset));
            for &c in bins.iter() {
                varint::put(&mut out, c);
            }
        }
    }
    out
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

fn bins(r: &mut Reader, sign: &str) -> Result<(i32, Vec<u64>)> {
    let n = r.varint(&format!("{sign} bin count"))?;
    if n > MAX_BINS as u64 {
        return Err(Error::corrupt(format!(
            "qsketch has {n} {sign} bins, more than {MAX_BINS}"
        )));
    }
    if n == 0 {
        return Ok((0, Vec::new()));
    }
    // (keys of finite values at any accuracy are far inside ±KEY_LIMIT)
    let offset = unzigzag(r.varint(&format!("{sign} lowest key"))?)
        .filter(|&o| o >= -KEY_LIMIT && o + (n as i32 - 1) <= KEY_LIMIT)
        .ok_or_else(|| Error::corrupt(format!("qsketch {sign} keys are out of range")))?;
    let counts = (0..n)
        .map(|_| r.varint(&format!("{sign} bin")))
        .collect::<Result<Vec<u64>>>()?;
    if counts[0] == 0 || counts[counts.len() - 1] == 0 {
        return Err(Error::corrupt(format!(
            "qsketch {sign} bins are not trimmed of empty bins"
        )));
    }
    Ok((offset, counts))
}

/// Decodes and validates a stored sketch (XX001 on anything that is not one).
pub fn decode(bytes: &[u8]) -> Result<Parts> {
    let mut r = Reader::new(bytes, "qsketch");
    let version = r.bytes(1, "header")?[0];
    if version != VERSION {
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
    (p.neg_offset, p.neg) = bins(&mut r, "negative")?;
    (p.pos_offset, p.pos) = bins(&mut r, "positive")?;
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
