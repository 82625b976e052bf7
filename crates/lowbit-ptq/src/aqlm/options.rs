//! Options, the quantized-weight state and the result of AQLM layer calibration.

use super::spec::VqSpec;
use crate::PtqError;
use crate::error::{check_finite, check_shape};

/// How k-means picks its initial centroids (paper §3: codebooks are initialised by residual
/// k-means; official `fit_kmeans`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmeansInit {
    /// The data points with ids `⌊i·N/K⌋`, i = 0..K−1, in (row, group) order: reproducible
    /// without an RNG. The reference `tools/aqlm_reference.py` (choice 4a) and its fixtures use
    /// this; the official code samples instead (a deviation of both).
    Spaced,
    /// `K` distinct ids drawn from ChaCha8 seeded by [`AqlmOptions::seed`] (the official kind
    /// of choice, `randperm(N)[:K]`, with a seeded generator; not the torch stream).
    Random,
}

/// Options of [`crate::aqlm::aqlm`]; the defaults are the official ones (aq_engine.py /
/// main.py, spec §3.2) except where noted.
#[derive(Debug, Clone, PartialEq)]
pub struct AqlmOptions {
    /// The format `vq:MxBgG`.
    pub spec: VqSpec,
    /// Hypotheses kept per row by the beam search (official default 1).
    pub beam_size: usize,
    /// Lloyd updates per codebook in the residual k-means init (official max_iter 100).
    pub kmeans_iters: usize,
    /// Initial centroids of k-means.
    pub kmeans_init: KmeansInit,
    /// Outer iterations (Adam steps, then one beam-search pass); official default 1000.
    pub max_epochs: usize,
    /// Stop at the start of an epoch when `loss / best_loss > 1 − tol` (official
    /// `relative_mse_tolerance`; the README uses 0.01, the default here). `None`: never.
    pub relative_tolerance: Option<f64>,
    /// Adam steps on codebooks and scales per epoch (official 100).
    pub steps_per_epoch: usize,
    /// Adam learning rate (official 1e-4).
    pub lr: f32,
    /// Adam β₁, β₂ (official (0.0, 0.95)); AMSGrad and ε = 1e-8 as official.
    pub betas: (f32, f32),
    /// Shuffle the (group, codebook) visiting order of every beam-search pass, as the official
    /// AQEngine does (`random.Random`), from ChaCha8 seeded by `seed`. Default `false`: the
    /// natural order of the reference and its fixtures (official `dim_rng=None`).
    pub shuffle: bool,
    /// Run the Adam step's GEMM `ΔW·XᵀX` in f32 (default `true`; the loss and all sums stay
    /// f64). DEVIATION for speed: the reference computes the loss in f64 throughout; `false`
    /// does that, ~3× slower per Adam step (1536×576: 0.66 s vs 2.2 s per 100 steps on the
    /// 2-core VM). Both pass the fixtures (after 100 steps the 1x8g8 codebooks differ from
    /// the reference by 1.1e-5 with f32, 8.4e-6 with f64; tolerance 2e-5).
    pub f32_gemm: bool,
    /// Seed of every random choice ([`KmeansInit::Random`], `shuffle`). Results depend on it
    /// and on nothing else (not on the thread count).
    pub seed: u64,
}

impl Default for AqlmOptions {
    fn default() -> Self {
        Self {
            spec: VqSpec {
                num_codebooks: 2,
                nbits: 8,
                group: 8,
            },
            beam_size: 1,
            kmeans_iters: 100,
            kmeans_init: KmeansInit::Spaced,
            max_epochs: 1000,
            relative_tolerance: Some(0.01),
            steps_per_epoch: 100,
            lr: 1e-4,
            betas: (0.0, 0.95),
            shuffle: false,
            f32_gemm: true,
            seed: 0,
        }
    }
}

impl AqlmOptions {
    /// Options for a named format (`vq:MxBgG`), everything else default.
    pub fn for_format(name: &str) -> Result<Self, PtqError> {
        Ok(Self {
            spec: VqSpec::parse(name)?,
            ..Self::default()
        })
    }

    pub(crate) fn validate(&self) -> Result<(), PtqError> {
        let bad = |reason: String| Err(PtqError::InvalidOption { reason });
        VqSpec::new(self.spec.num_codebooks, self.spec.nbits, self.spec.group)?;
        if self.beam_size == 0 {
            return bad("beam_size must be ≥ 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr = {} must be finite and > 0", self.lr));
        }
        let (b1, b2) = self.betas;
        if !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2)) {
            return bad(format!("betas = ({b1}, {b2}) must lie in [0, 1)"));
        }
        if let Some(t) = self.relative_tolerance {
            if !(t.is_finite() && (0.0..1.0).contains(&t)) {
                return bad(format!("relative_tolerance = {t} must lie in [0, 1)"));
            }
        }
        Ok(())
    }
}

/// A weight in AQLM form: codes, codebooks and per-row scales (spec §3.1, lowbit's `VqCodes`
/// layout, out_group_size 1).
#[derive(Debug, Clone, PartialEq)]
pub struct VqWeight {
    /// The format.
    pub spec: VqSpec,
    /// d_out.
    pub rows: usize,
    /// d_in.
    pub cols: usize,
    /// Codes `[rows, cols/G, M]`, each `< 2^B`.
    pub codes: Vec<u32>,
    /// Codebooks `[M, 2^B, G]`.
    pub codebooks: Vec<f32>,
    /// Scales `[rows]`.
    pub scales: Vec<f32>,
}

impl VqWeight {
    /// Checks every length and code range; the error names the offending part.
    pub fn new(
        spec: VqSpec,
        rows: usize,
        cols: usize,
        codes: Vec<u32>,
        codebooks: Vec<f32>,
        scales: Vec<f32>,
    ) -> Result<Self, PtqError> {
        let v = Self {
            spec,
            rows,
            cols,
            codes,
            codebooks,
            scales,
        };
        v.check()?;
        Ok(v)
    }

    /// Groups per row, `cols / G`.
    pub fn groups(&self) -> usize {
        self.cols / self.spec.group
    }

    pub(crate) fn check(&self) -> Result<(), PtqError> {
        let s = self.spec;
        VqSpec::new(s.num_codebooks, s.nbits, s.group)?;
        check_shape("scales", self.scales.len(), self.rows, 1)?;
        check_cols(self.cols, s.group)?;
        let j = self.cols / s.group;
        check_shape("codes", self.codes.len(), self.rows, j * s.num_codebooks)?;
        check_shape(
            "codebooks",
            self.codebooks.len(),
            s.num_codebooks * s.codebook_size(),
            s.group,
        )?;
        let k = s.codebook_size() as u32;
        if let Some(index) = self.codes.iter().position(|&c| c >= k) {
            return Err(PtqError::InvalidOption {
                reason: format!(
                    "code {} at index {index} is ≥ the codebook size {k}",
                    self.codes[index]
                ),
            });
        }
        check_finite("codebooks", &self.codebooks)?;
        check_finite("scales", &self.scales)?;
        Ok(())
    }
}

/// `G` divides `cols`, else [`PtqError::GroupSize`].
pub(crate) fn check_cols(cols: usize, group: usize) -> Result<(), PtqError> {
    if cols == 0 || cols % group != 0 {
        return Err(PtqError::GroupSize { group, cols });
    }
    Ok(())
}

/// `w [rows, cols]` and `xtx [cols, cols]`: lengths, group and finiteness.
pub(crate) fn check_problem(
    w: &[f32],
    rows: usize,
    cols: usize,
    xtx: &[f32],
    group: usize,
) -> Result<(), PtqError> {
    check_shape("weight", w.len(), rows, cols)?;
    check_shape("xtx", xtx.len(), cols, cols)?;
    check_cols(cols, group)?;
    check_finite("weight", w)?;
    check_finite("xtx", xtx)?;
    Ok(())
}

/// One beam-search pass: the exact objective `tr(ΔW XᵀX ΔWᵀ)` (f64) before and after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeamPass {
    /// Objective with the codes before the pass.
    pub before: f64,
    /// Objective with the codes after the pass (≤ `before`).
    pub after: f64,
    /// Codes that changed.
    pub changed: usize,
    /// Rows whose exact objective rose by f32 rounding and were put back to their previous
    /// codes (the guard that makes the pass monotone; 0 in every fixture).
    pub reverted: usize,
}

/// One outer iteration of [`crate::aqlm::calibrate()`].
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    /// Objective at the start of the epoch (before its Adam steps).
    pub obj_start: f64,
    /// The epoch ended before any step: `obj_start / best > 1 − tol`.
    pub stopped_by_tolerance: bool,
    /// Objective after the Adam steps (`None` when stopped).
    pub obj_after_adam: Option<f64>,
    /// The beam-search pass that followed (`None` when stopped).
    pub search: Option<BeamPass>,
}

/// The result of [`crate::aqlm::aqlm`] / [`crate::aqlm::calibrate()`].
#[derive(Debug, Clone, PartialEq)]
pub struct AqlmResult {
    /// The format.
    pub spec: VqSpec,
    /// d_out.
    pub rows: usize,
    /// d_in.
    pub cols: usize,
    /// Codes `[rows, cols/G, M]`.
    pub codes: Vec<u32>,
    /// Codebooks `[M, 2^B, G]`.
    pub codebooks: Vec<f32>,
    /// Scales `[rows]`.
    pub scales: Vec<f32>,
    /// The decoded weight `[rows, cols]` ([`crate::aqlm::decode`] of the above).
    pub w_hat: Vec<f32>,
    /// Objective `tr(ΔW XᵀX ΔWᵀ)` after every beam-search pass (f64).
    pub trace: Vec<f64>,
    /// Objective of the k-means init (or of the given start), before any epoch.
    pub obj_init: f64,
    /// Every epoch, in order.
    pub epochs: Vec<EpochRecord>,
}

impl AqlmResult {
    /// The codes, codebooks and scales as a [`VqWeight`].
    pub fn weight(&self) -> VqWeight {
        VqWeight {
            spec: self.spec,
            rows: self.rows,
            cols: self.cols,
            codes: self.codes.clone(),
            codebooks: self.codebooks.clone(),
            scales: self.scales.clone(),
        }
    }
}
