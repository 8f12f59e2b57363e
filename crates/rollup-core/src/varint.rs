//! Unsigned LEB128 varints, as the stored forms of the sketches write them, and a reader of
//! stored bytes that names the sketch and the field in its errors (XX001).

use crate::error::{Error, Result};

/// Appends `v` in the fewest bytes.
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The bytes `put` writes for `v`.
pub fn len(v: u64) -> usize {
    (64 - v.max(1).leading_zeros() as usize).div_ceil(7)
}

/// Reads stored bytes front to back.
pub struct Reader<'a> {
    data: &'a [u8],
    pub pos: usize,
    /// The sketch type, for messages ("topn").
    sketch: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], sketch: &'static str) -> Self {
        Reader {
            data,
            pos: 0,
            sketch,
        }
    }

    /// The next varint; each number has one encoding, so that equal sketches have equal bytes.
    pub fn varint(&mut self, what: &str) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.data.get(self.pos) else {
                return Err(self.ends_inside(what));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                break;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(Error::corrupt(format!(
                        "{} {what} is not minimally encoded",
                        self.sketch
                    )));
                }
                return Ok(v);
            }
        }
        Err(Error::corrupt(format!(
            "{} {what} does not fit in 64 bits",
            self.sketch
        )))
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(self.ends_inside(what));
        }
        let b = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    /// Raises unless every byte was read.
    pub fn finish(&self) -> Result<()> {
        match self.data.len() - self.pos {
            0 => Ok(()),
            extra => Err(Error::corrupt(format!(
                "{} value has {extra} bytes after its end",
                self.sketch
            ))),
        }
    }

    fn ends_inside(&self, what: &str) -> Error {
        Error::corrupt(format!("{} value ends inside its {what}", self.sketch))
    }
}
