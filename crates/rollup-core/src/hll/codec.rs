//! The HLL storage specification, version 1 (shared by postgresql-hll, java-hll and js-hll).
//!
//! ```text
//! byte 0   version (high nibble, = 1) | type (low nibble: 0 undefined, 1 empty,
//!          2 explicit, 3 sparse, 4 full)
//! byte 1   (regwidth - 1) << 5 | log2m
//! byte 2   0 | sparseon << 6 | explicit threshold code (0 off, 63 auto, c: 2^(c-1))
//! body     explicit: big-endian int64 hashes, ascending as signed integers
//!          sparse:   (log2m + regwidth)-bit words `index << regwidth | value`, ascending
//!                    by index, bit-packed most significant bit first, zero-padded
//!          full:     m registers of regwidth bits, bit-packed the same way
//! ```
//!
//! [`decode`] validates every byte and returns a view that reads the body in place;
//! nothing is copied until a sketch is merged into an in-memory [`Hll`].

use allocator_api2::alloc::Allocator;

use super::{estimator::Histogram, Hll, HllParams, HllSource, Kind, Repr};
use crate::error::{Error, Result};

pub const SCHEMA_VERSION: u8 = 1;
pub const TYPE_UNDEFINED: u8 = 0;
pub const TYPE_EMPTY: u8 = 1;
pub const TYPE_EXPLICIT: u8 = 2;
pub const TYPE_SPARSE: u8 = 3;
pub const TYPE_FULL: u8 = 4;
const HEADER_LEN: usize = 3;

#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    Undefined,
    Empty,
    /// 8 bytes per hash.
    Explicit(&'a [u8]),
    Sparse {
        data: &'a [u8],
        entries: usize,
    },
    Full(&'a [u8]),
}

/// A validated stored sketch, read in place.
#[derive(Clone, Copy, Debug)]
pub struct HllView<'a> {
    pub params: HllParams,
    pub body: Body<'a>,
}

/// Reads `n` (<= 25) bits at a time, most significant bit first.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    #[inline(always)]
    fn read(&mut self, n: u32) -> u32 {
        let byte = self.pos >> 3;
        let mut window = [0u8; 8];
        let avail = (self.data.len() - byte).min(8);
        window[..avail].copy_from_slice(&self.data[byte..byte + avail]);
        let word = u64::from_be_bytes(window) << (self.pos & 7);
        self.pos += n as usize;
        (word >> (64 - n)) as u32
    }
}

/// Writes `n` bits at a time into a zeroed buffer, most significant bit first.
struct BitWriter<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl BitWriter<'_> {
    #[inline(always)]
    fn write(&mut self, n: u32, value: u32) {
        let mut remaining = n;
        while remaining > 0 {
            let free = 8 - (self.pos & 7) as u32;
            let take = free.min(remaining);
            let bits = (value >> (remaining - take)) & ((1u32 << take) - 1);
            self.out[self.pos >> 3] |= (bits << (free - take)) as u8;
            self.pos += take as usize;
            remaining -= take;
        }
    }
}

/// The 8 registers of `W` bits packed big-endian in the top `8·W` bits of `word`, one by one.
#[inline(always)]
fn unpack8<const W: usize>(word: u64) -> [u8; 8] {
    let mask = (1u64 << W) - 1;
    std::array::from_fn(|j| ((word >> (64 - W * (j + 1))) & mask) as u8)
}

/// The same registers by halving the groups of fields into lanes of 32, 16 then 8 bits: fewer
/// operations when the 8 bytes are used together (a byte-wise max), slower when each register
/// is used on its own. The last register (lowest bits) ends in the lowest byte, so the bytes
/// come out reversed.
#[inline(always)]
fn spread8<const W: usize>(word: u64) -> [u8; 8] {
    let fields = |n: usize| (1u64 << (n * W)) - 1;
    let x = word >> (64 - 8 * W);
    let x = (x & fields(4)) | ((x >> (4 * W)) & fields(4)) << 32;
    let x = (x & (fields(2) * 0x0000_0001_0000_0001))
        | ((x >> (2 * W)) & (fields(2) * 0x0000_0001_0000_0001)) << 16;
    let x = (x & (fields(1) * 0x0001_0001_0001_0001))
        | ((x >> W) & (fields(1) * 0x0001_0001_0001_0001)) << 8;
    x.swap_bytes().to_le_bytes()
}

#[inline(always)]
fn full_groups_w<const W: usize>(
    data: &[u8],
    groups: usize,
    spread: bool,
    mut f: impl FnMut(usize, [u8; 8]),
) {
    let unpack = |word| {
        if spread {
            spread8::<W>(word)
        } else {
            unpack8::<W>(word)
        }
    };
    let data = &data[..groups * W];
    // Eight bytes at a time while eight can be read; the last groups from a padded copy.
    let fast = if data.len() >= 8 {
        (data.len() - 8) / W + 1
    } else {
        0
    };
    for group in 0..fast {
        let bytes: [u8; 8] = data[group * W..group * W + 8].try_into().unwrap();
        f(group, unpack(u64::from_be_bytes(bytes)));
    }
    for group in fast..groups {
        let mut bytes = [0u8; 8];
        bytes[..W].copy_from_slice(&data[group * W..group * W + W]);
        f(group, unpack(u64::from_be_bytes(bytes)));
    }
}

/// Calls `f(group, registers)` for each group of 8 registers of a full body (8 registers of
/// `w` bits are exactly `w` bytes), specialised per width; `spread` unpacks them with
/// [`spread8`]. Needs m >= 8.
#[inline(always)]
fn full_groups(data: &[u8], params: HllParams, spread: bool, f: impl FnMut(usize, [u8; 8])) {
    let groups = params.registers() / 8;
    match params.regwidth {
        1 => full_groups_w::<1>(data, groups, spread, f),
        2 => full_groups_w::<2>(data, groups, spread, f),
        3 => full_groups_w::<3>(data, groups, spread, f),
        4 => full_groups_w::<4>(data, groups, spread, f),
        5 => full_groups_w::<5>(data, groups, spread, f),
        6 => full_groups_w::<6>(data, groups, spread, f),
        7 => full_groups_w::<7>(data, groups, spread, f),
        _ => full_groups_w::<8>(data, groups, spread, f),
    }
}

/// Writes one-byte registers as a full body, 8 registers into `w` bytes at a time. Needs m >= 8.
fn pack_full(regs: &[u8], w: usize, out: &mut [u8]) {
    for (bytes, group) in out.chunks_exact_mut(w).zip(regs.chunks_exact(8)) {
        let word = group.iter().fold(0u64, |acc, &r| (acc << w) | u64::from(r));
        for (k, b) in bytes.iter_mut().enumerate() {
            *b = (word >> (8 * (w - 1 - k))) as u8;
        }
    }
}

fn header_params(bytes: &[u8]) -> Result<HllParams> {
    let log2m = bytes[1] & 0x1f;
    if i64::from(log2m) > super::MAX_LOG2M {
        return Err(Error::corrupt(format!(
            "hll log2m {log2m} exceeds the maximum of {}",
            super::MAX_LOG2M
        )));
    }
    let regwidth = (bytes[1] >> 5) + 1;
    let cutoff = bytes[2];
    if cutoff & 0x80 != 0 {
        return Err(Error::corrupt(
            "hll cutoff byte has its reserved top bit set",
        ));
    }
    let code = cutoff & 0x3f;
    let max_code = HllParams {
        expthresh: super::MAX_EXPTHRESH,
        ..HllParams::default()
    }
    .expthresh_code();
    if code != 63 && code > max_code {
        return Err(Error::corrupt(format!(
            "hll explicit threshold code {code} out of range"
        )));
    }
    Ok(HllParams {
        log2m,
        regwidth,
        expthresh: HllParams::expthresh_from_code(code),
        sparseon: cutoff & 0x40 != 0,
    })
}

/// Validates stored bytes and returns a view of them.
pub fn decode(bytes: &[u8]) -> Result<HllView<'_>> {
    if bytes.len() < HEADER_LEN {
        return Err(Error::corrupt(format!(
            "hll value of {} bytes is shorter than its 3-byte header",
            bytes.len()
        )));
    }
    let version = bytes[0] >> 4;
    if version != SCHEMA_VERSION {
        return Err(Error::corrupt(format!(
            "unknown hll schema version {version}"
        )));
    }
    let params = header_params(bytes)?;
    let data = &bytes[HEADER_LEN..];
    let body = match bytes[0] & 0x0f {
        t @ (TYPE_UNDEFINED | TYPE_EMPTY) => {
            if !data.is_empty() {
                return Err(Error::corrupt(format!(
                    "{} hll value has {} bytes after its header",
                    type_name(t),
                    data.len()
                )));
            }
            if t == TYPE_EMPTY {
                Body::Empty
            } else {
                Body::Undefined
            }
        }
        TYPE_EXPLICIT => {
            if !data.len().is_multiple_of(8) {
                return Err(Error::corrupt(format!(
                    "explicit hll body of {} bytes is not a multiple of 8",
                    data.len()
                )));
            }
            let n = data.len() / 8;
            if n > params.explicit_limit() {
                return Err(Error::corrupt(format!(
                    "explicit hll holds {n} hashes, more than its threshold of {}",
                    params.explicit_limit()
                )));
            }
            let ascending = data
                .chunks_exact(8)
                .map(|c| i64::from_be_bytes(c.try_into().unwrap()))
                .try_fold(None, |prev: Option<i64>, h| match prev {
                    Some(p) if p >= h => Err(()),
                    _ => Ok(Some(h)),
                });
            if ascending.is_err() {
                return Err(Error::corrupt(
                    "explicit hll hashes are not strictly ascending",
                ));
            }
            Body::Explicit(data)
        }
        TYPE_SPARSE => {
            let word = u32::from(params.log2m) + u32::from(params.regwidth);
            let bits = data.len() * 8;
            let entries = bits / word as usize;
            if bits - entries * word as usize >= 8 {
                return Err(Error::corrupt("sparse hll has inconsistent padding"));
            }
            // Indices of the non-zero registers must ascend. A zero word can only be padding
            // (when a word is narrower than a byte) and sets nothing.
            let mut reader = BitReader { data, pos: 0 };
            let mut last: Option<u32> = None;
            for _ in 0..entries {
                let w = reader.read(word);
                if w & ((1 << params.regwidth) - 1) == 0 {
                    continue;
                }
                let index = w >> params.regwidth;
                if last.is_some_and(|l| l >= index) {
                    return Err(Error::corrupt(
                        "sparse hll register indices are not strictly ascending",
                    ));
                }
                last = Some(index);
            }
            Body::Sparse { data, entries }
        }
        TYPE_FULL => {
            let expected = (params.registers() * usize::from(params.regwidth)).div_ceil(8);
            if data.len() != expected {
                return Err(Error::corrupt(format!(
                    "full hll body has {} bytes, its parameters need {expected}",
                    data.len()
                )));
            }
            Body::Full(data)
        }
        t => return Err(Error::corrupt(format!("unknown hll type {t}"))),
    };
    Ok(HllView { params, body })
}

fn type_name(t: u8) -> &'static str {
    match t {
        TYPE_UNDEFINED => "undefined",
        TYPE_EMPTY => "empty",
        TYPE_EXPLICIT => "explicit",
        TYPE_SPARSE => "sparse",
        _ => "full",
    }
}

impl HllView<'_> {
    /// The type code in the stored header (`hll_type`).
    pub fn stored_type(&self) -> u8 {
        match self.body {
            Body::Undefined => TYPE_UNDEFINED,
            Body::Empty => TYPE_EMPTY,
            Body::Explicit(_) => TYPE_EXPLICIT,
            Body::Sparse { .. } => TYPE_SPARSE,
            Body::Full(_) => TYPE_FULL,
        }
    }

    /// Cardinality straight from the stored bytes.
    pub fn cardinality(&self) -> Option<f64> {
        match self.body {
            Body::Undefined => None,
            Body::Empty => Some(0.0),
            Body::Explicit(data) => Some((data.len() / 8) as f64),
            Body::Sparse { .. } | Body::Full(_) => {
                let hist =
                    if let (Body::Full(data), true) = (self.body, self.params.registers() >= 8) {
                        let mut hist = Histogram::new(self.params);
                        full_groups(data, self.params, false, |_, regs| hist.add_group(&regs));
                        hist
                    } else {
                        Histogram::of_registers(self)
                    };
                Some(hist.estimate())
            }
        }
    }
}

impl HllSource for HllView<'_> {
    fn params(&self) -> HllParams {
        self.params
    }

    fn kind(&self) -> Kind {
        match self.body {
            Body::Undefined => Kind::Undefined,
            Body::Empty => Kind::Empty,
            Body::Explicit(_) => Kind::Explicit,
            Body::Sparse { .. } | Body::Full(_) => Kind::Registers,
        }
    }

    fn explicit_len(&self) -> usize {
        match self.body {
            Body::Explicit(data) => data.len() / 8,
            _ => 0,
        }
    }

    fn for_each_explicit(&self, mut f: impl FnMut(i64)) {
        if let Body::Explicit(data) = self.body {
            data.chunks_exact(8)
                .for_each(|c| f(i64::from_be_bytes(c.try_into().unwrap())));
        }
    }

    fn for_each_register(&self, mut f: impl FnMut(u32, u8)) {
        let w = u32::from(self.params.regwidth);
        match self.body {
            Body::Sparse { data, entries } => {
                let word = u32::from(self.params.log2m) + w;
                let mut reader = BitReader { data, pos: 0 };
                for _ in 0..entries {
                    let e = reader.read(word);
                    let value = (e & ((1 << w) - 1)) as u8;
                    if value != 0 {
                        f(e >> w, value);
                    }
                }
            }
            Body::Full(data) if self.params.registers() >= 8 => {
                full_groups(data, self.params, false, |group, regs| {
                    for (j, &r) in regs.iter().enumerate() {
                        if r != 0 {
                            f((group * 8 + j) as u32, r);
                        }
                    }
                })
            }
            Body::Full(data) => {
                let mut reader = BitReader { data, pos: 0 };
                for index in 0..self.params.registers() as u32 {
                    let value = reader.read(w) as u8;
                    if value != 0 {
                        f(index, value);
                    }
                }
            }
            _ => {}
        }
    }

    fn filled_hint(&self) -> usize {
        match self.body {
            Body::Sparse { entries, .. } => entries,
            Body::Full(_) => self.params.registers(),
            _ => 0,
        }
    }

    fn max_into_dense(&self, regs: &mut [u8]) {
        match self.body {
            Body::Full(data) if self.params.registers() >= 8 => {
                let mut dst = regs.chunks_exact_mut(8);
                full_groups(data, self.params, true, |_, group| {
                    if let Some(dst) = dst.next() {
                        for (r, &v) in dst.iter_mut().zip(group.iter()) {
                            *r = (*r).max(v);
                        }
                    }
                })
            }
            _ => self.for_each_register(|i, v| regs[i as usize] = regs[i as usize].max(v)),
        }
    }
}

/// Whether registers are stored sparse: postgresql-hll's rule, including the session's
/// `hll_set_max_sparse` (-1: sparse while it is smaller than full).
fn store_sparse(params: HllParams, filled: usize, max_sparse: i32) -> bool {
    let sparse_bits = filled * (usize::from(params.log2m) + usize::from(params.regwidth));
    let full_bits = params.registers() * usize::from(params.regwidth);
    params.sparseon
        && if max_sparse == -1 {
            sparse_bits < full_bits
        } else {
            filled <= max_sparse as usize
        }
}

/// How a sketch will be stored: its type code and size.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub stored_type: u8,
    pub len: usize,
}

/// The stored form `hll` takes under the session's `max_sparse`.
pub fn layout<A: Allocator + Clone>(hll: &Hll<A>, max_sparse: i32) -> Layout {
    let p = hll.params();
    let (stored_type, body) = match hll.repr() {
        Repr::Undefined => (TYPE_UNDEFINED, 0),
        Repr::Empty => (TYPE_EMPTY, 0),
        Repr::Explicit(v) => (TYPE_EXPLICIT, v.len() * 8),
        Repr::Sparse(_) | Repr::Dense(_) => {
            let filled = hll.filled_registers();
            if store_sparse(p, filled, max_sparse) {
                (
                    TYPE_SPARSE,
                    (filled * (usize::from(p.log2m) + usize::from(p.regwidth))).div_ceil(8),
                )
            } else {
                (
                    TYPE_FULL,
                    (p.registers() * usize::from(p.regwidth)).div_ceil(8),
                )
            }
        }
    };
    Layout {
        stored_type,
        len: HEADER_LEN + body,
    }
}

/// Writes the stored form of `hll` into `out`, which is `layout.len` bytes long.
pub fn encode_into<A: Allocator + Clone>(hll: &Hll<A>, layout: Layout, out: &mut [u8]) {
    debug_assert_eq!(out.len(), layout.len);
    out.fill(0);
    let p = hll.params();
    out[0] = (SCHEMA_VERSION << 4) | layout.stored_type;
    out[1] = ((p.regwidth - 1) << 5) | p.log2m;
    out[2] = (u8::from(p.sparseon) << 6) | p.expthresh_code();
    let body = &mut out[HEADER_LEN..];
    let w = u32::from(p.regwidth);
    match (layout.stored_type, hll.repr()) {
        (TYPE_EXPLICIT, Repr::Explicit(v)) => {
            for (chunk, h) in body.chunks_exact_mut(8).zip(v.iter()) {
                chunk.copy_from_slice(&h.to_be_bytes());
            }
        }
        (TYPE_SPARSE, _) => {
            let mut writer = BitWriter { out: body, pos: 0 };
            let word = u32::from(p.log2m) + w;
            hll.for_each_register(|i, v| writer.write(word, (i << w) | u32::from(v)));
        }
        (TYPE_FULL, Repr::Dense(regs)) if regs.len() >= 8 => pack_full(regs, w as usize, body),
        (TYPE_FULL, Repr::Dense(regs)) => {
            let mut writer = BitWriter { out: body, pos: 0 };
            regs.iter().for_each(|&r| writer.write(w, u32::from(r)));
        }
        (TYPE_FULL, _) => {
            let mut writer = BitWriter { out: body, pos: 0 };
            let mut next = 0u32;
            hll.for_each_register(|i, v| {
                writer.pos += ((i - next) * w) as usize;
                writer.write(w, u32::from(v));
                next = i + 1;
            });
        }
        _ => {}
    }
}

/// The stored form of `hll` as a new vector.
pub fn encode<A: Allocator + Clone>(hll: &Hll<A>, max_sparse: i32) -> std::vec::Vec<u8> {
    let layout = layout(hll, max_sparse);
    let mut out = vec![0u8; layout.len];
    encode_into(hll, layout, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grouped fast paths agree with the generic bit reader and writer.
    #[test]
    fn grouped_full_packing_matches_the_bitstream() {
        for regwidth in 1..=8u8 {
            let params = HllParams {
                log2m: 6,
                regwidth,
                expthresh: 0,
                sparseon: false,
            };
            let m = params.registers();
            let regs: std::vec::Vec<u8> = (0..m)
                .map(|i| ((i * 37 + 11) % (1 << regwidth)) as u8)
                .collect();
            let len = (m * usize::from(regwidth)).div_ceil(8);
            let mut fast = vec![0u8; len];
            pack_full(&regs, usize::from(regwidth), &mut fast);
            let mut slow = vec![0u8; len];
            let mut writer = BitWriter {
                out: &mut slow,
                pos: 0,
            };
            regs.iter()
                .for_each(|&r| writer.write(u32::from(regwidth), u32::from(r)));
            assert_eq!(fast, slow, "regwidth {regwidth}");
            let mut read = vec![0u8; m];
            for spread in [false, true] {
                full_groups(&fast, params, spread, |group, g| {
                    read[group * 8..group * 8 + 8].copy_from_slice(&g)
                });
                assert_eq!(read, regs, "regwidth {regwidth}, spread {spread}");
                read.fill(0);
            }
        }
    }
}
