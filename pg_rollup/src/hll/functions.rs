//! Scalar functions: cardinality, union, add, print, empty, metadata and session settings.

use std::fmt::Write;

use pgrx::pg_sys;
use pgrx::prelude::*;
use rollup_core::hll::codec::{self, HllView};
use rollup_core::hll::{Hll, HllParams, HllSource, Kind};

use super::{session, set_session, view};
use crate::fmgr::*;
use crate::pg_v1_fn;

/// A sketch as a new hll datum, stored the way the session's settings ask.
pub(super) fn hll_datum<A: allocator_api2::alloc::Allocator + Clone>(
    hll: &Hll<A>,
) -> pg_sys::Datum {
    let layout = codec::layout(hll, session().max_sparse);
    new_varlena(layout.len, |out| codec::encode_into(hll, layout, out))
}

pg_v1_fn! {
    fn pg_rollup_hll_cardinality / pg_finfo_pg_rollup_hll_cardinality (call) {
        match view(call.bytes(0)).cardinality() {
            Some(c) => datum_f64(c),
            None => call.return_null(),
        }
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_union / pg_finfo_pg_rollup_hll_union (call) {
        let a = view(call.bytes(0));
        let b = view(call.bytes(1));
        a.params.check_compatible(&b.params).or_raise();
        let mut out = Hll::from_source_in(&a, allocator_api2::alloc::Global);
        out.union(&b).or_raise();
        hll_datum(&out)
    }
}

fn add(call: Call, sketch_arg: usize, hash_arg: usize) -> pg_sys::Datum {
    let mut out = Hll::from_source_in(&view(call.bytes(sketch_arg)), allocator_api2::alloc::Global);
    out.add_hash(call.i64(hash_arg));
    hll_datum(&out)
}

pg_v1_fn! {
    fn pg_rollup_hll_add / pg_finfo_pg_rollup_hll_add (call) { add(call, 0, 1) }
}

pg_v1_fn! {
    fn pg_rollup_hll_add_rev / pg_finfo_pg_rollup_hll_add_rev (call) { add(call, 1, 0) }
}

/// postgresql-hll's hll_print layout, so scripts that parse it keep working.
fn print(v: &HllView) -> String {
    let p = v.params;
    let expthresh = if p.expthresh == -1 {
        format!("-1({})", p.explicit_limit())
    } else {
        p.expthresh.to_string()
    };
    let tail = format!(
        "nregs={}, nbits={}, expthresh={expthresh}, sparseon={}",
        p.registers(),
        p.regwidth,
        u8::from(p.sparseon)
    );
    let mut s;
    match v.kind() {
        Kind::Undefined => s = format!("UNDEFINED {tail}"),
        Kind::Empty => s = format!("EMPTY, {tail}"),
        Kind::Explicit => {
            s = format!("EXPLICIT, {} elements, {tail}:", v.explicit_len());
            let mut i = 0;
            v.for_each_explicit(|h| {
                let _ = write!(s, "\n{i}: {h:>20} ");
                i += 1;
            });
        }
        Kind::Registers => {
            let mut regs = vec![0u8; p.registers()];
            v.for_each_register(|i, r| regs[i as usize] = r);
            let filled = regs.iter().filter(|&&r| r != 0).count();
            s = format!("COMPRESSED, {filled} filled {tail}:");
            for (row, chunk) in regs.chunks_exact(32).enumerate() {
                let _ = write!(s, "\n{:4}: ", row * 32);
                for r in chunk {
                    let _ = write!(s, "{r:2} ");
                }
            }
        }
    }
    s
}

pg_v1_fn! {
    fn pg_rollup_hll_print / pg_finfo_pg_rollup_hll_print (call) {
        datum_cstring(&print(&view(call.bytes(0))))
    }
}

/// The parameters given as the function's arguments, the session defaults for the rest.
pub(super) fn params_from_args(call: Call, first: usize) -> HllParams {
    let given = call.nargs() - first;
    let d = session().defaults;
    HllParams::new(
        if given >= 1 {
            i64::from(call.i32(first))
        } else {
            i64::from(d.log2m)
        },
        if given >= 2 {
            i64::from(call.i32(first + 1))
        } else {
            i64::from(d.regwidth)
        },
        if given >= 3 {
            call.i64(first + 2)
        } else {
            d.expthresh
        },
        if given >= 4 {
            i64::from(call.i32(first + 3))
        } else {
            i64::from(d.sparseon)
        },
    )
    .or_raise()
}

pg_v1_fn! {
    fn pg_rollup_hll_empty / pg_finfo_pg_rollup_hll_empty (call) {
        hll_datum(&Hll::new(params_from_args(call, 0)))
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_schema_version / pg_finfo_pg_rollup_hll_schema_version (call) {
        view(call.bytes(0));
        datum_i32(i32::from(codec::SCHEMA_VERSION))
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_type / pg_finfo_pg_rollup_hll_type (call) {
        datum_i32(i32::from(view(call.bytes(0)).stored_type()))
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_log2m / pg_finfo_pg_rollup_hll_log2m (call) {
        datum_i32(i32::from(view(call.bytes(0)).params.log2m))
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_regwidth / pg_finfo_pg_rollup_hll_regwidth (call) {
        datum_i32(i32::from(view(call.bytes(0)).params.regwidth))
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_sparseon / pg_finfo_pg_rollup_hll_sparseon (call) {
        datum_i32(i32::from(view(call.bytes(0)).params.sparseon))
    }
}

pg_v1_fn! {
    /// (specified, effective): the threshold as stored, and the number of hashes it means.
    fn pg_rollup_hll_expthresh / pg_finfo_pg_rollup_hll_expthresh (call) {
        let p = view(call.bytes(0)).params;
        call.return_record(&[datum_i64(p.expthresh), datum_i64(p.explicit_limit() as i64)])
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_set_output_version / pg_finfo_pg_rollup_hll_set_output_version (call) {
        let v = call.i32(0);
        if v != i32::from(codec::SCHEMA_VERSION) {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("output version must be 1, not {v}"));
        }
        datum_i32(i32::from(codec::SCHEMA_VERSION))
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_set_max_sparse / pg_finfo_pg_rollup_hll_set_max_sparse (call) {
        let v = call.i32(0);
        if v < -1 {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("sparse threshold must be -1 (automatic) or at least 0, not {v}"));
        }
        let mut s = session();
        let old = s.max_sparse;
        s.max_sparse = v;
        set_session(s);
        datum_i32(old)
    }
}

pg_v1_fn! {
    fn pg_rollup_hll_set_defaults / pg_finfo_pg_rollup_hll_set_defaults (call) {
        let params = params_from_args(call, 0);
        let mut s = session();
        let old = s.defaults;
        s.defaults = params;
        set_session(s);
        call.return_record(&[
            datum_i32(i32::from(old.log2m)),
            datum_i32(i32::from(old.regwidth)),
            datum_i64(old.expthresh),
            datum_i32(i32::from(old.sparseon)),
        ])
    }
}
