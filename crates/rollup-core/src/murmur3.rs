//! MurmurHash3, x64 128-bit variant (Austin Appleby's public-domain algorithm).
//!
//! postgresql-hll hashes with this function and keeps the low 64 bits (`out[0]`); matching it
//! bit for bit is what lets users keep application-side hashes when they switch extensions.

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

#[inline(always)]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[inline(always)]
fn mix_k1(k1: u64) -> u64 {
    k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2)
}

#[inline(always)]
fn mix_k2(k2: u64) -> u64 {
    k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1)
}

/// Both 64-bit halves of MurmurHash3_x64_128 of `data` with a 32-bit `seed`.
#[inline]
pub fn murmur3_x64_128(data: &[u8], seed: u32) -> (u64, u64) {
    let mut h1 = u64::from(seed);
    let mut h2 = u64::from(seed);

    let mut blocks = data.chunks_exact(16);
    for block in &mut blocks {
        let k1 = u64::from_le_bytes(block[0..8].try_into().unwrap());
        let k2 = u64::from_le_bytes(block[8..16].try_into().unwrap());

        h1 ^= mix_k1(k1);
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        h2 ^= mix_k2(k2);
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }

    // The tail bytes, zero-padded, read as two little-endian words (what the reference's
    // byte-by-byte switch computes).
    let tail = blocks.remainder();
    let mut padded = [0u8; 16];
    padded[..tail.len()].copy_from_slice(tail);
    if tail.len() > 8 {
        h2 ^= mix_k2(u64::from_le_bytes(padded[8..16].try_into().unwrap()));
    }
    if !tail.is_empty() {
        h1 ^= mix_k1(u64::from_le_bytes(padded[0..8].try_into().unwrap()));
    }

    finalize(h1, h2, data.len())
}

#[inline(always)]
fn finalize(mut h1: u64, mut h2: u64, len: usize) -> (u64, u64) {
    h1 ^= len as u64;
    h2 ^= len as u64;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1, h2)
}

/// MurmurHash3_x64_128 of an input of at most 8 bytes, passed as the little-endian word they
/// form (bytes past `len` zero): the same result as [`murmur3_x64_128`] without its loop and
/// copies, for hashing pass-by-value datums once per row.
#[inline(always)]
pub fn murmur3_x64_128_short(word: u64, len: usize, seed: u32) -> (u64, u64) {
    debug_assert!(len <= 8 && (len == 8 || word >> (8 * len) == 0));
    let h1 = u64::from(seed) ^ if len > 0 { mix_k1(word) } else { 0 };
    finalize(h1, u64::from(seed), len)
}

/// postgresql-hll's hash of the first `len` (<= 8) bytes of a pass-by-value datum's native
/// representation.
#[inline(always)]
pub fn hll_hash_datum_bytes(datum: u64, len: usize, seed: i32) -> i64 {
    let word = if cfg!(target_endian = "little") {
        if len >= 8 {
            datum
        } else {
            datum & ((1u64 << (8 * len)) - 1)
        }
    } else {
        let mut bytes = [0u8; 8];
        bytes[..len].copy_from_slice(&datum.to_ne_bytes()[..len]);
        u64::from_le_bytes(bytes)
    };
    murmur3_x64_128_short(word, len, seed as u32).0 as i64
}

/// The 64-bit hash postgresql-hll stores: the first half of MurmurHash3_x64_128.
/// Its SQL seed is an `integer`; negative seeds are reinterpreted as unsigned, as C does.
#[inline]
pub fn hll_hash(data: &[u8], seed: i32) -> i64 {
    murmur3_x64_128(data, seed as u32).0 as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SMHasher's verification value for MurmurHash3_x64_128: hash keys {}, {0}, {0,1}, ...
    /// {0..254} with seed 256-i, concatenate the 16-byte digests, hash that with seed 0; the
    /// first four little-endian bytes must be 0x6384BA69.
    #[test]
    fn smhasher_verification_value() {
        let mut key = Vec::with_capacity(256);
        let mut digests = Vec::with_capacity(256 * 16);
        for i in 0..256u32 {
            let (h1, h2) = murmur3_x64_128(&key, 256 - i);
            digests.extend_from_slice(&h1.to_le_bytes());
            digests.extend_from_slice(&h2.to_le_bytes());
            key.push(i as u8);
        }
        let (h1, _) = murmur3_x64_128(&digests, 0);
        assert_eq!(h1 as u32, 0x6384_BA69);
    }

    #[test]
    fn short_inputs_hash_like_the_general_function() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            for len in 0..=8 {
                let bytes = &x.to_le_bytes()[..len];
                let seed = (x >> 40) as u32;
                assert_eq!(
                    murmur3_x64_128_short(
                        u64::from_le_bytes({
                            let mut b = [0u8; 8];
                            b[..len].copy_from_slice(bytes);
                            b
                        }),
                        len,
                        seed
                    ),
                    murmur3_x64_128(bytes, seed)
                );
                assert_eq!(
                    hll_hash_datum_bytes(x, len, seed as i32),
                    hll_hash(&x.to_ne_bytes()[..len], seed as i32)
                );
            }
        }
    }

    #[test]
    fn empty_input_with_zero_seed_is_zero() {
        assert_eq!(murmur3_x64_128(b"", 0), (0, 0));
    }

    #[test]
    fn every_tail_length_differs() {
        let data: Vec<u8> = (0u8..40).collect();
        let mut seen = std::collections::HashSet::new();
        for len in 0..=data.len() {
            assert!(
                seen.insert(murmur3_x64_128(&data[..len], 0)),
                "collision at length {len}"
            );
        }
    }
}
