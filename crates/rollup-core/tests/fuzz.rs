//! Fuzzing of every decoder that reads bytes from outside: the hll storage format (text
//! `\x..` input, recv, bytea cast and the aggregates' serialized state all end in
//! `hll::codec::decode`), the topn storage format (`decode`, and `decode_checked` for
//! bytes from users), the topn aggregate state (`decode_state`) and the qsketch storage format
//! (stored values and aggregate states: `qsketch::codec::decode`).
//!
//! Inputs are random byte strings and mutations (bit flips, truncation, insertion, deletion,
//! varint and header tweaks, splices) of valid encodings of every representation. A decoder
//! must return Ok or a typed error, never panic; what it accepts must be usable (estimate,
//! entries, union, adds, re-encode) without panicking, and what the validating decoders
//! accept must re-encode to bytes they accept again.
//!
//!   cargo test -p rollup-core --test fuzz                                   # 20,000 inputs per target
//!   FUZZ_INPUTS=1000000 cargo test -p rollup-core --profile fuzz --test fuzz -- --nocapture
//!
//! The `fuzz` profile is the release profile with overflow checks and debug assertions on.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rollup_core::hll::{codec as hll_codec, Hll, HllParams};
use rollup_core::murmur3::hll_hash;
use rollup_core::qsketch::{codec as qsketch_codec, QSketch};
use rollup_core::topn::{codec as topn_codec, TopN, TopNSource};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn inputs_per_target() -> usize {
    std::env::var("FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// Valid hll encodings: every type, several parameter sets.
fn hll_corpus(rng: &mut StdRng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for &(log2m, regwidth, expthresh, sparseon) in &[
        (4, 1, -1, 1),
        (11, 5, -1, 1),
        (11, 5, 0, 0),
        (14, 6, 256, 1),
        (17, 5, 0, 1),
        (10, 3, 16, 0),
    ] {
        let params = HllParams::new(log2m, regwidth, expthresh, sparseon).unwrap();
        for n in [0usize, 1, 3, 40, 300, 5000] {
            let mut h = Hll::new(params);
            for _ in 0..n {
                let key: u64 = rng.random();
                h.add_hash(hll_hash(&key.to_le_bytes(), 0));
            }
            out.push(hll_codec::encode(&h, -1));
        }
    }
    out.push(vec![0x10, 0x8b, 0x7f]); // undefined, as postgresql-hll writes it
    out
}

/// Valid topn encodings (stored form) and aggregate states.
fn topn_corpus(rng: &mut StdRng) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut stored, mut states) = (Vec::new(), Vec::new());
    for counters in [1u32, 3, 10, 100] {
        for n in [0usize, 1, 7, 200, 3000] {
            let mut t = TopN::new(counters);
            for _ in 0..n {
                let len = rng.random_range(0..12);
                let item: Vec<u8> = (0..len).map(|_| rng.random_range(b'a'..=b'f')).collect();
                t.add(&item, rng.random_range(1..5)).unwrap();
            }
            states.push(topn_codec::encode_state(&t));
            let (entries, absent) = t.stored();
            let total = entries.iter().map(|e| e.upper).sum::<u64>() + absent;
            stored.push(topn_codec::encode(counters, total, absent, &entries));
        }
    }
    (stored, states)
}

fn mutate(rng: &mut StdRng, corpus: &[Vec<u8>]) -> Vec<u8> {
    if rng.random_range(0..10) == 0 {
        let len = rng.random_range(0..64);
        return (0..len).map(|_| rng.random()).collect();
    }
    let mut b = corpus[rng.random_range(0..corpus.len())].clone();
    for _ in 0..rng.random_range(1..4) {
        match rng.random_range(0..8) {
            0 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !b.is_empty() => {
                let keep = rng.random_range(0..b.len());
                b.truncate(keep);
            }
            2 => {
                let i = rng.random_range(0..=b.len());
                b.insert(i, rng.random());
            }
            3 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b.remove(i);
            }
            4 if !b.is_empty() => {
                // a header byte to an extreme
                let i = rng.random_range(0..b.len().min(4));
                b[i] = [0x00, 0xff, 0x7f, 0x80][rng.random_range(0..4)];
            }
            5 => {
                // a long varint-looking run
                let i = rng.random_range(0..=b.len());
                let run = vec![0xff; rng.random_range(1..12)];
                b.splice(i..i, run);
            }
            6 => {
                // splice in a piece of another valid encoding
                let other = &corpus[rng.random_range(0..corpus.len())];
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    let to = rng.random_range(from..=other.len());
                    let at = rng.random_range(0..=b.len());
                    b.splice(at..at, other[from..to].iter().copied());
                }
            }
            _ => {
                let i = rng.random_range(0..=b.len());
                b.truncate(i);
                b.extend((0..rng.random_range(0..8)).map(|_| rng.random::<u8>()));
            }
        }
    }
    b
}

/// Runs `check` on `inputs_per_target()` inputs; panics (failing the test) with the first
/// input that made it panic. Returns how many inputs were accepted.
fn fuzz(name: &str, seed: u64, corpus: &[Vec<u8>], check: impl Fn(&[u8]) -> bool) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let total = inputs_per_target();
    let mut accepted = 0;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for i in 0..total {
        let input = mutate(&mut rng, corpus);
        match catch_unwind(AssertUnwindSafe(|| check(&input))) {
            Ok(ok) => accepted += usize::from(ok),
            Err(e) => {
                std::panic::set_hook(hook);
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                panic!("{name}: input {i} panicked ({msg:?}): {input:02x?}");
            }
        }
    }
    std::panic::set_hook(hook);
    println!(
        "{name}: {total} inputs, {accepted} accepted, {} refused with an error, 0 panics",
        total - accepted
    );
    accepted
}

#[test]
fn hll_decode_never_panics() {
    let mut rng = StdRng::seed_from_u64(1);
    let corpus = hll_corpus(&mut rng);
    let accepted = fuzz("hll decode", 11, &corpus, |bytes| {
        let Ok(view) = hll_codec::decode(bytes) else {
            return false;
        };
        let _ = view.cardinality();
        let _ = view.stored_type();
        // Union into a sketch with the same parameters, re-encode, decode again.
        let mut h = Hll::new(view.params);
        if h.union(&view).is_ok() {
            let again = hll_codec::encode(&h, -1);
            hll_codec::decode(&again).expect("a re-encoded sketch decodes");
        }
        true
    });
    assert!(
        accepted > 0,
        "the mutations never produced a valid sketch: the corpus is broken"
    );
}

#[test]
fn topn_decode_never_panics() {
    let mut rng = StdRng::seed_from_u64(2);
    let (stored, _) = topn_corpus(&mut rng);
    for (name, checked) in [("topn decode", false), ("topn decode_checked", true)] {
        fuzz(name, 12 + u64::from(checked), &stored, |bytes| {
            let decoded = if checked {
                topn_codec::decode_checked(bytes)
            } else {
                topn_codec::decode(bytes)
            };
            let Ok(view) = decoded else { return false };
            let entries = view.entries();
            let mut t = TopN::new(view.counters().max(1));
            t.union(&view);
            // Keep using the sketch: adds of listed and new items, another union.
            for e in entries.iter().take(5) {
                t.add(e.item, 3).unwrap();
            }
            t.add(b"new item", 2).unwrap();
            t.union(&view);
            let again = topn_codec::encode_state(&t);
            // `decode` trusts bytes that were validated when they entered the database (it does
            // not look for repeated items); what it lets through may still be refused here, with
            // an error. Bytes `decode_checked` accepted make a sketch that stays valid.
            let redecoded = topn_codec::decode_state(&again);
            if checked {
                redecoded.expect("a re-encoded state decodes");
            }
            true
        });
    }
}

#[test]
fn topn_state_decode_never_panics() {
    let mut rng = StdRng::seed_from_u64(3);
    let (_, states) = topn_corpus(&mut rng);
    fuzz("topn decode_state", 14, &states, |bytes| {
        let Ok(view) = topn_codec::decode_state(bytes) else {
            return false;
        };
        let mut t = TopN::new(view.counters().max(1));
        t.union(&view);
        let (entries, absent) = t.stored();
        let total = entries
            .iter()
            .fold(absent, |sum, e| sum.saturating_add(e.upper));
        let stored = topn_codec::encode(view.counters().max(1), total, absent, &entries);
        topn_codec::decode(&stored).is_ok()
    });
}

/// Valid qsketch encodings: empty, one sign, both signs with zeros, collapsed, several
/// accuracies.
fn qsketch_corpus(rng: &mut StdRng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for alpha in [0.01, 0.0001, 0.3] {
        for (n, spread) in [
            (0usize, 1.0),
            (1, 1.0),
            (50, 3.0),
            (2000, 20.0),
            (3000, 300.0),
        ] {
            let mut s = QSketch::new(alpha).unwrap();
            for i in 0..n {
                let v = (rng.random::<f64>() * spread).exp() * if i % 5 == 0 { -1.0 } else { 1.0 };
                s.add(if i % 17 == 0 { 0.0 } else { v }, 1).unwrap();
            }
            out.push(qsketch_codec::encode(&s));
        }
    }
    out
}

#[test]
fn qsketch_decode_never_panics() {
    let mut rng = StdRng::seed_from_u64(4);
    let corpus = qsketch_corpus(&mut rng);
    let accepted = fuzz("qsketch decode", 15, &corpus, |bytes| {
        let Ok(parts) = qsketch_codec::decode(bytes) else {
            return false;
        };
        // What decodes answers, merges with a sketch of its accuracy, takes adds, and
        // re-encodes to bytes that decode.
        let mut s = QSketch::new(parts.alpha).unwrap();
        s.union_parts(&parts).unwrap();
        for q in [0.0, 0.5, 0.99, 1.0] {
            s.quantile(q).unwrap();
        }
        s.rank(1.0).unwrap();
        s.add(-3.5, 2).unwrap();
        s.add(1e300, 1).unwrap();
        s.union_parts(&parts).unwrap();
        qsketch_codec::decode(&qsketch_codec::encode(&s)).expect("a re-encoded sketch decodes");
        true
    });
    assert!(
        accepted > 0,
        "the mutations never produced a valid sketch: the corpus is broken"
    );
}
