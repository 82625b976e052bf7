//! Block-scale search: absmax (the formats' own rule) or FP-Quant's `mse` observer
//! (IST-DASLab/FP-Quant `src/quantization/quantizer.py` `Quantizer.get_quantization_params`,
//! `observer == MSE`; spec formats-and-scaling.md §4.1 and §8; MR-GPTQ, arXiv 2509.23202 §4
//! "format-specific scale search"): candidates shrink_i = 1 − i·max_shrink/grid, i = 0..grid
//! (100 factors 1 … 0.208 by default), keep the first candidate with the least
//! Σ_block |x − x̂|^norm (norm 2.4), strict `<` so ties keep the larger scale.
//!
//! What a candidate is, per family (shrink_i rounded to f32 once, computed in f64 in the
//! official order `1 − (i·max_shrink)/grid`):
//! - INT (sym and asym): s_i = s_absmax·shrink_i (FP-Quant: `candidate_scales = shrink ·
//!   init_scales`); asymmetric z_i = clamp(RNE(−lo/s_i), 0, 2^b − 1) (FP-Quant recomputes the
//!   zero per candidate the same way).
//! - Grid formats (NVFP4, MXFP4, NF4, E2M1, multi-grid): amax_i = amax·shrink_i, then the
//!   format's OWN scale rule on amax_i (E4M3 RNE cast with the tensor scale, E8M0 by the format's
//!   rounding, or f32), for every grid of a multi-grid format; (i, grid) searched jointly.
//!   So the chosen scale is always a representable E4M3 / E8M0 / f32 scale of the format and
//!   the coded parts stay exact.
//!
//! How a candidate is scored ([`MseEval`]): lowbit's default [`MseEval::Decoded`] scores the
//! values the format really decodes with that candidate's *stored* scale. FP-Quant scores the
//! *unrounded* scale (amax_i / M, before the E4M3 / E8M0 cast, which it applies after the
//! search): [`MseEval::Continuous`] reproduces that reading. They agree for f32 scales (INT,
//! `e2m1`, `nf4`); shrink = 1 is candidate 0, so with `norm = 2` and `Decoded` the searched
//! block MSE is never above absmax's.

use crate::PtqError;
use crate::quantizer::BlockParams;
use lowbit_formats::scale::{BlockScale, GlobalScale, ScaleRule};
use lowbit_formats::{GridBlockParams, GridFormat, IntFormat, IntScale};

/// How a candidate scale is scored in [`ScaleSearch::Mse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MseEval {
    /// Error of the values decoded with the candidate's stored (cast) scale (lowbit's default).
    #[default]
    Decoded,
    /// Error with the unrounded candidate scale amax_i / M; the winner is cast afterwards
    /// (FP-Quant's `get_quantization_params` order).
    Continuous,
}

/// How a group's block scales are chosen when the group starts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ScaleSearch {
    /// The format's rule from the block's absmax / min–max (= `Format::encode`).
    #[default]
    Absmax,
    /// FP-Quant's `mse` observer (see the module docs).
    Mse {
        /// Number of shrink factors (FP-Quant `scale_search_iters`, 100), ≥ 1.
        grid: usize,
        /// Error norm p of Σ|x − x̂|^p (FP-Quant `error_norm`, 2.4), finite and > 0.
        norm: f64,
        /// Largest shrink (FP-Quant `max_scale_shrink_factor`, 0.8), in [0, 1].
        max_shrink: f64,
        /// Scoring of a candidate.
        eval: MseEval,
    },
}

impl ScaleSearch {
    /// FP-Quant's defaults: 100 factors 1 … 0.208, norm 2.4, scored on decoded values.
    pub const FP_QUANT: Self = ScaleSearch::Mse {
        grid: 100,
        norm: 2.4,
        max_shrink: 0.8,
        eval: MseEval::Decoded,
    };

    pub(crate) fn validate(&self) -> Result<(), PtqError> {
        if let ScaleSearch::Mse {
            grid,
            norm,
            max_shrink,
            ..
        } = *self
        {
            let ok =
                grid >= 1 && norm.is_finite() && norm > 0.0 && (0.0..=1.0).contains(&max_shrink);
            if !ok {
                return Err(PtqError::InvalidOption {
                    reason: format!(
                        "mse scale search needs grid ≥ 1, finite norm > 0 and max_shrink in [0, 1] (got grid {grid}, norm {norm}, max_shrink {max_shrink})"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The shrink factors, f64 in FP-Quant's order and rounded to f32 once.
fn shrinks(grid: usize, max_shrink: f64) -> impl Iterator<Item = f32> {
    (0..grid).map(move |i| (1.0 - (i as f64 * max_shrink) / grid as f64) as f32)
}

/// Σ |x − x̂|^p in f64, sequentially.
fn score(x: &[f32], mut decode: impl FnMut(f32) -> f32, p: f64) -> f64 {
    x.iter()
        .map(|&v| (v as f64 - decode(v) as f64).abs().powf(p))
        .sum()
}

/// Searched parameters of one INT block (f32 scales: both evals coincide).
pub(crate) fn search_int(f: &IntFormat, x: &[f32], grid: usize, p: f64, shrink: f64) -> IntScale {
    let base = f.block_params(x);
    // The range's low end as `block_params` takes it (min(x, 0); all-zero → −1).
    let (lo, hi) = x
        .iter()
        .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let lo = if lo == 0.0 && hi == 0.0 { -1.0 } else { lo };
    let qmax = ((1u32 << f.bits()) - 1) as f32;
    let mut best = (f64::INFINITY, base);
    for sh in shrinks(grid, shrink) {
        let s = base.s * sh;
        let z = if f.symmetric() || s == 0.0 {
            0.0
        } else {
            (-lo / s).round_ties_even().clamp(0.0, qmax)
        };
        let c = IntScale { s, z };
        let e = score(x, |v| f.quantize_value(c, v).1, p);
        if e < best.0 {
            best = (e, c);
        }
    }
    best.1
}

/// Searched parameters of one grid-format block.
pub(crate) fn search_grid(
    f: &GridFormat,
    x: &[f32],
    global: GlobalScale,
    (grid, p, shrink, eval): (usize, f64, f64, MseEval),
) -> GridBlockParams {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let rule = f.scale_rule();
    let coarse = rule == ScaleRule::E4m3Global && f.grids().len() > 2;
    let mut best: Option<(f64, GridBlockParams)> = None;
    for sh in shrinks(grid, shrink) {
        let a = amax * sh;
        for (k, g) in f.grids().iter().enumerate() {
            let cand = GridBlockParams {
                scale: BlockScale::compute(rule, a, g.max_abs(), global, coarse),
                grid: k,
            };
            let e = match eval {
                MseEval::Decoded => score(x, |v| f.quantize_value(&cand, v).1, p),
                MseEval::Continuous => {
                    let s = a / g.max_abs();
                    let t = g.table();
                    score(
                        x,
                        |v| {
                            if s == 0.0 {
                                0.0
                            } else {
                                t[g.encode(v / s) as usize] * s
                            }
                        },
                        p,
                    )
                }
            };
            if best.as_ref().is_none_or(|b| e < b.0) {
                best = Some((e, cand));
            }
        }
    }
    // grid ≥ 1 (validated) and a format has ≥ 1 grid, so `best` is set; absmax otherwise.
    best.map_or_else(|| f.block_params(x, global), |b| b.1)
}

/// One row's block parameters under `search`.
pub(crate) fn block_params(
    format: &lowbit_formats::Format,
    x: &[f32],
    global: GlobalScale,
    search: &ScaleSearch,
) -> Option<BlockParams> {
    use lowbit_formats::Format;
    Some(match (format, *search) {
        (Format::Int(f), ScaleSearch::Absmax) => BlockParams::Int(f.block_params(x)),
        (Format::Grid(f), ScaleSearch::Absmax) => BlockParams::Grid(f.block_params(x, global)),
        (
            Format::Int(f),
            ScaleSearch::Mse {
                grid,
                norm,
                max_shrink,
                ..
            },
        ) => BlockParams::Int(search_int(f, x, grid, norm, max_shrink)),
        (
            Format::Grid(f),
            ScaleSearch::Mse {
                grid,
                norm,
                max_shrink,
                eval,
            },
        ) => BlockParams::Grid(search_grid(f, x, global, (grid, norm, max_shrink, eval))),
        _ => return None,
    })
}
