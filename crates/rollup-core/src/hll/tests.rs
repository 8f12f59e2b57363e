use super::codec::{decode, encode, Body, TYPE_EXPLICIT, TYPE_FULL, TYPE_SPARSE};
use super::*;
use crate::murmur3::hll_hash;
use crate::ErrorKind;

fn hashes(range: std::ops::Range<i64>) -> impl Iterator<Item = i64> {
    range.map(|i| hll_hash(&i.to_le_bytes(), 0))
}

fn sketch(params: HllParams, range: std::ops::Range<i64>) -> Hll {
    let mut h = Hll::new(params);
    hashes(range).for_each(|x| h.add_hash(x));
    h
}

#[test]
fn empty_default_sketch_has_the_well_known_bytes() {
    assert_eq!(
        encode(&Hll::new(HllParams::default()), -1),
        vec![0x11, 0x8b, 0x7f]
    );
}

#[test]
fn typmod_round_trips_and_matches_postgresql_hll_layout() {
    let p = HllParams::new(14, 4, 256, 0).unwrap();
    assert_eq!(p.to_typmod(), (14 << 10) | (4 << 7) | (9 << 1));
    assert_eq!(HllParams::from_typmod(p.to_typmod()).unwrap(), p);
}

#[test]
fn bad_parameters_are_invalid_parameter_errors() {
    for (l, r, e, s) in [
        (18, 5, -1, 1),
        (-1, 5, -1, 1),
        (11, 0, -1, 1),
        (11, 8, -1, 1),
        (11, 5, 3, 1),
        (11, 5, 16384, 1),
        (11, 5, -2, 1),
        (11, 5, -1, 2),
    ] {
        let err = HllParams::new(l, r, e, s).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParameter, "{l} {r} {e} {s}");
    }
}

#[test]
fn explicit_holds_exactly_the_threshold_then_turns_into_registers() {
    let p = HllParams::default();
    let limit = p.explicit_limit();
    assert_eq!(limit, 160);
    let mut h = sketch(p, 0..limit as i64);
    assert_eq!(h.kind(), Kind::Explicit);
    h.add_hash(hashes(0..1).next().unwrap()); // a duplicate changes nothing
    assert_eq!(h.kind(), Kind::Explicit);
    h.add_hash(hashes(limit as i64..limit as i64 + 1).next().unwrap());
    assert_eq!(h.kind(), Kind::Registers);
}

#[test]
fn expthresh_zero_goes_straight_to_registers() {
    let h = sketch(HllParams::new(11, 5, 0, 1).unwrap(), 0..1);
    assert_eq!(h.kind(), Kind::Registers);
}

#[test]
fn every_representation_round_trips_through_the_codec() {
    for params in [
        HllParams::default(),
        HllParams::new(4, 1, 0, 1).unwrap(),
        HllParams::new(17, 7, 8192, 0).unwrap(),
        HllParams::new(5, 3, 2, 1).unwrap(),
    ] {
        for n in [0, 1, 2, 10, 100, 1000, 20_000] {
            let h = sketch(params, 0..n);
            let bytes = encode(&h, -1);
            let view = decode(&bytes).unwrap();
            assert_eq!(view.params, params);
            let copy = Hll::from_source_in(&view, allocator_api2::alloc::Global);
            assert_eq!(encode(&copy, -1), bytes, "{params:?} n={n}");
            assert_eq!(view.cardinality(), h.cardinality());
        }
    }
}

#[test]
fn registers_are_stored_sparse_while_smaller_than_full() {
    let p = HllParams::new(11, 5, 0, 1).unwrap();
    let few = encode(&sketch(p, 0..50), -1);
    assert_eq!(few[0] & 0xf, TYPE_SPARSE);
    assert_eq!(few.len(), 3 + (50usize * 16).div_ceil(8));
    let many = encode(&sketch(p, 0..5000), -1);
    assert_eq!(many[0] & 0xf, TYPE_FULL);
    assert_eq!(many.len(), 3 + 2048 * 5 / 8);
    // sparseon = 0 always stores full; max_sparse forces the switch point.
    let off = encode(&sketch(HllParams::new(11, 5, 0, 0).unwrap(), 0..50), -1);
    assert_eq!(off[0] & 0xf, TYPE_FULL);
    let forced = encode(&sketch(p, 0..50), 10);
    assert_eq!(forced[0] & 0xf, TYPE_FULL);
}

#[test]
fn union_is_order_independent_and_matches_adding_everything() {
    let p = HllParams::default();
    let all = encode(&sketch(p, 0..3000), -1);
    let parts = [0..100, 100..120, 120..2000, 2000..3000];
    for rotation in 0..parts.len() {
        let mut acc = Hll::new(p);
        for k in 0..parts.len() {
            let part = sketch(p, parts[(k + rotation) % parts.len()].clone());
            let bytes = encode(&part, -1);
            acc.union(&decode(&bytes).unwrap()).unwrap();
        }
        assert_eq!(encode(&acc, -1), all);
    }
}

#[test]
fn explicit_union_stays_explicit_only_while_it_fits() {
    let p = HllParams::default();
    let mut a = sketch(p, 0..100);
    a.union(&sketch(p, 50..160)).unwrap();
    assert_eq!(a.kind(), Kind::Explicit);
    assert_eq!(a.cardinality(), Some(160.0));
    a.union(&sketch(p, 160..161)).unwrap();
    assert_eq!(a.kind(), Kind::Registers);
}

#[test]
fn undefined_absorbs_and_empty_is_neutral() {
    let p = HllParams::default();
    let mut a = sketch(p, 0..10);
    a.union(&Hll::new(p)).unwrap();
    assert_eq!(a.cardinality(), Some(10.0));
    a.union(&Hll::undefined_in(p, allocator_api2::alloc::Global))
        .unwrap();
    assert_eq!(a.kind(), Kind::Undefined);
    assert_eq!(a.cardinality(), None);
}

#[test]
fn union_of_mismatched_parameters_is_refused() {
    let mut a = sketch(HllParams::default(), 0..10);
    let b = sketch(HllParams::new(12, 5, -1, 1).unwrap(), 0..10);
    assert_eq!(a.union(&b).unwrap_err().kind, ErrorKind::Mismatch);
}

#[test]
fn malformed_bytes_are_corrupt_errors() {
    let good_explicit = encode(&sketch(HllParams::default(), 0..3), -1);
    let mut descending = good_explicit.clone();
    descending[3..11].copy_from_slice(&i64::MAX.to_be_bytes());
    let cases: std::vec::Vec<std::vec::Vec<u8>> = vec![
        vec![],
        vec![0x11],
        vec![0x21, 0x8b, 0x7f],          // version 2
        vec![0x15, 0x8b, 0x7f],          // type 5
        vec![0x11, 0x8b, 0x7f, 0x00],    // empty with a body
        vec![0x11, 0x92, 0x7f],          // log2m 18
        vec![0x11, 0x8b, 0xff],          // reserved bit
        vec![0x11, 0x8b, 0x50],          // expthresh code 16
        vec![0x12, 0x8b, 0x7f, 1, 2, 3], // explicit not a multiple of 8
        descending,
        vec![0x14, 0x8b, 0x7f, 0, 0], // full too short
        vec![0x13, 0x8b, 0x7f, 0xff, 0xff, 0x00, 0x01, 0x00], // sparse padding of 8+ bits
        vec![0x13, 0x8b, 0x7f, 0x00, 0x21, 0x00, 0x11], // sparse indices 1 then 0
    ];
    for bytes in cases {
        let err = decode(&bytes).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Corrupt, "{bytes:02x?}");
    }
    // An explicit set longer than its threshold: 2 hashes with expthresh 1.
    let p = HllParams::new(11, 5, 2, 1).unwrap();
    let mut two = encode(&sketch(p, 0..2), -1);
    two[2] = 0x41; // expthresh code 1 => threshold 1
    assert_eq!(decode(&two).unwrap_err().kind, ErrorKind::Corrupt);
}

#[test]
fn decode_reads_explicit_in_place() {
    let bytes = encode(&sketch(HllParams::default(), 0..5), -1);
    let view = decode(&bytes).unwrap();
    assert_eq!(view.stored_type(), TYPE_EXPLICIT);
    assert!(matches!(view.body, Body::Explicit(d) if d.len() == 40));
}

#[test]
fn state_memory_grows_with_content() {
    let p = HllParams::new(14, 5, 0, 1).unwrap();
    let small = sketch(p, 0..5);
    assert!(small.heap_size() < 200, "{}", small.heap_size());
    let big = sketch(p, 0..100_000);
    assert_eq!(big.heap_size(), 1 << 14);
}

#[test]
fn sparse_unions_of_overlapping_parts_match_adding_everything() {
    // Parts past the explicit threshold that overlap: their registers merge into a sparse
    // sketch index by index, repeated indexes keeping the larger value, then turn dense.
    let p = HllParams::default();
    for end in [300i64, 450, 700] {
        let all = encode(&sketch(p, 0..end), -1);
        let mut acc = Hll::new(p);
        let mut start = 0;
        while start < end {
            let part = sketch(p, start..(start + 250).min(end));
            acc.union(&decode(&encode(&part, -1)).unwrap()).unwrap();
            start += 40;
        }
        assert_eq!(encode(&acc, -1), all, "end {end}");
    }
}
