//! Golden vectors for sparsity and sparsity composed with quantization (`unstructured:…`, `NofM`,
//! `pairs4of8`, `2of4+int4`, …) from the independent oracle `tools/gen_golden.py`: the fast and
//! the reference mask, the encoded mask and survivors, the decode and both fake quantizations,
//! bit for bit (FORMATS.md "Sparsity", "Packing").

mod golden_util;

use golden_util::{
    Case, bits, cases, check_fake_quant, check_quantizer, format_files, format_of, golden, mask_of,
    u8s, u32s,
};
use lowbit_formats::{Format, Sparsity};

fn check_masks(s: &Sparsity, c: &Case, x: &[f32]) {
    let want = mask_of(c);
    let fast = s
        .mask(x, c.cols)
        .unwrap_or_else(|e| panic!("{}: {e}", c.label));
    assert_eq!(fast, want, "{}: fast mask", c.label);
    let slow = s
        .mask_reference(x, c.cols)
        .unwrap_or_else(|e| panic!("{}: {e}", c.label));
    assert_eq!(slow, want, "{}: reference mask", c.label);
}

/// Pure sparsity: the mask, the survivors (stored as f32 little-endian, index order), decode.
fn check_sparse(f: &Format, s: &Sparsity, c: &Case) {
    check_masks(s, c, &c.x);
    let e = f
        .encode(&c.x, c.cols)
        .unwrap_or_else(|e| panic!("{}: {e}", c.label));
    assert_eq!(e.mask, Some(u8s(&c.v["mask"])), "{}: packed mask", c.label);
    let kept: Vec<u8> = u32s(&c.v["kept"])
        .into_iter()
        .flat_map(|b| b.to_le_bytes())
        .collect();
    assert_eq!(e.codes, kept, "{}: survivors", c.label);
    let d = f.decode(&e).unwrap_or_else(|e| panic!("{}: {e}", c.label));
    assert_eq!(bits(&d), c.dequant, "{}: decode", c.label);
    check_fake_quant(f, c);
}

/// Composition: the mask of x, then the quantizer on the masked tensor (its codes and scales are
/// the stored ones), and x̂ = M ⊙ Q(M ⊙ x).
fn check_composition(f: &Format, s: &Sparsity, c: &Case) {
    check_masks(s, c, &c.x);
    let e = f
        .encode(&c.x, c.cols)
        .unwrap_or_else(|e| panic!("{}: {e}", c.label));
    assert_eq!(e.mask, Some(u8s(&c.v["mask"])), "{}: packed mask", c.label);
    // The whole quantizer contract (fast + reference encode, decode, both fake quants) on f.
    check_quantizer(f, c);
}

#[test]
fn sparsity_and_compositions_match_the_oracle() {
    let (mut sparse, mut composed, mut checked) = (0, 0, 0);
    for file in format_files() {
        let g = golden(&file);
        let f = format_of(&g);
        match &f {
            Format::Sparse(s) => {
                sparse += 1;
                for c in cases(&g) {
                    check_sparse(&f, s, &c);
                    checked += 1;
                }
            }
            Format::SparseQuant { sparsity, .. } => {
                composed += 1;
                for c in cases(&g) {
                    check_composition(&f, sparsity, &c);
                    checked += 1;
                }
            }
            _ => {}
        }
    }
    assert!(
        sparse >= 7 && composed >= 4,
        "{sparse} sparse, {composed} composed files"
    );
    assert!(checked >= 150, "only {checked} cases");
}
