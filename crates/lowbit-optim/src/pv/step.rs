//! [`PvOptimizer`]: one PV-Tuning step of a Llama with coded layers (algorithms.md §4.2), as an
//! [`Optimizer`] the step loop holds.
//!
//! Per step, from one backward pass:
//! 1. `G = ∂loss/∂Ŵ` of every coded layer is the gradient of its zero probe
//!    ([`lowbit_nn::CodedWeight::with_probe`]); the probe gradients are taken out of `grads`.
//! 2. **P-step**: [`AdamW`] on every other float parameter with a gradient — the continuous
//!    parameters of the codes (scales, zero points, codebooks) and the non-quantized ones
//!    (norms, embeddings, head); its parameter groups give each its lr / betas, or freeze it.
//! 3. **V-step** (skipped for P-only): `X` = the straight-through buffer `Z` when `δ < 1`, else
//!    the decoded weight before this step; `T` = `X` after one Lamb-Adam step with `G`
//!    ([`super::lamb`]); the codes move towards `T` under the *updated* P on the `τ` fraction
//!    of groups farthest from it ([`super::scalar`], [`super::vq`]); then `Z ← δ·Ŵ + (1−δ)·Z`
//!    when `0 < δ < 1` (δ = 0 is plain straight-through: `Z` is never pulled back).
//!
//! Deviations from the official `StraightThroughAdamW`, all deliberate:
//! - the P-step is Adam (bias-corrected), not Lamb (the issue makes Lamb optional);
//! - the codebooks are searched in their natural order (the official shuffles them with an
//!   unseeded RNG every step, which would break bit-identical resume);
//! - no code trust ratio (`code_trust_ratio`, used only by the paper-era branch).

use super::lamb::{LambConfig, LambState, lamb_step};
use super::scalar::{VStepStats, scalar_vstep};
use super::vq::{VqHost, vq_vstep};
use crate::{AdamW, OptimError, Optimizer, OptimizerState};
use burn::module::Param;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use lowbit_formats::CodedParts;
use lowbit_nn::hf::{HostData, HostTensor};
use lowbit_nn::llama::Llama;
use lowbit_nn::weight::{CodedWeight, WeightRepr};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::time::Instant;

/// The V-step's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VStepConfig {
    /// Fraction of code groups (elements of scalar grids, tiles of VQ) one step may change.
    pub tau: f64,
    /// The Lamb-Adam step of the V direction (`code_lr`, its betas and ε).
    pub lamb: LambConfig,
    /// Beam width of the VQ search (scalar grids project exactly).
    pub beam_size: usize,
    /// δ: 1 = no straight-through buffer (PV), 0 = plain straight-through (STE, PV+STE),
    /// in between = the buffer is pulled towards the quantized weight by δ every step.
    pub delta_decay: f64,
}

/// Per-layer V-step state.
#[derive(Debug, Clone, Default)]
struct VLayer {
    lamb: LambState,
    /// The straight-through buffer Z (`δ < 1`), `[d_out · d_in]`.
    buffer: Option<Vec<f32>>,
}

/// PV-Tuning: [`AdamW`] as the P-step and, unless P-only, the V-step on the codes.
#[derive(Debug, Clone)]
pub struct PvOptimizer {
    p: AdamW,
    v: Option<VStepConfig>,
    layers: BTreeMap<String, VLayer>,
    stats: BTreeMap<String, f64>,
}

const SUFFIXES: [&str; 3] = [".v_exp_avg", ".v_exp_avg_sq", ".st_buffer"];

fn host(t: Tensor<2>, what: &str) -> Result<Vec<f32>, OptimError> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| OptimError::Readback {
            tensor: what.into(),
            message: format!("{e:?}"),
        })
}

fn host_int<const D: usize>(t: Tensor<D, Int>, what: &str) -> Result<Vec<i64>, OptimError> {
    t.into_data()
        .try_into_vec_as::<i64>()
        .map_err(|e| OptimError::Readback {
            tensor: what.into(),
            message: format!("{e:?}"),
        })
}

fn sq_norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x) * f64::from(x)).sum()
}

/// A new value for an integer parameter, keeping its id.
fn replace_int<const D: usize>(
    p: &Param<Tensor<D, Int>>,
    values: Vec<i64>,
    shape: [usize; D],
) -> Param<Tensor<D, Int>> {
    let device = p.val().device();
    Param::initialized(
        p.id,
        Tensor::<D, Int>::from_data(TensorData::new(values, shape), &device),
    )
}

impl PvOptimizer {
    /// PV-Tuning with P-step `p` and V-step `v` (`None`: P-only, codes frozen).
    pub fn new(p: AdamW, v: Option<VStepConfig>) -> Self {
        Self {
            p,
            v,
            layers: BTreeMap::new(),
            stats: BTreeMap::new(),
        }
    }
}

/// A coded layer's codes and decode parameters on the host.
enum HostCodes {
    Scalar(CodedParts),
    Vq(VqHost),
}

impl HostCodes {
    fn read(name: &str, c: &CodedWeight) -> Result<Self, OptimError> {
        Ok(match c {
            CodedWeight::Scalar(s) => HostCodes::Scalar(
                s.to_parts()
                    .map_err(|e| OptimError::Module(format!("{name}: {e}")))?,
            ),
            CodedWeight::Vq(v) => {
                let [rows, groups, m] = v.weight_codes.val().dims();
                let [_, k, group] = v.weight_codebooks.val().dims();
                let codes = host_int(v.weight_codes.val(), &format!("{name}.weight_codes"))?;
                HostCodes::Vq(VqHost {
                    rows,
                    cols: groups * group,
                    m,
                    k,
                    group,
                    codes: codes.iter().map(|&c| c as u32).collect(),
                    codebooks: host(
                        v.weight_codebooks.val().reshape([m * k, group]),
                        &format!("{name}.weight_codebooks"),
                    )?,
                    scales: host(v.weight_scale.val(), &format!("{name}.weight_scale"))?,
                })
            }
        })
    }

    /// The decoded weight (the host decodes equal the tensor decodes bit for bit).
    fn decode(&self) -> Vec<f32> {
        match self {
            HostCodes::Scalar(p) => p.decode(),
            HostCodes::Vq(w) => w.decode(),
        }
    }

    fn vstep(&mut self, target: &[f32], cfg: &VStepConfig) -> VStepStats {
        match self {
            HostCodes::Scalar(p) => scalar_vstep(p, target, cfg.tau).1,
            HostCodes::Vq(w) => vq_vstep(w, target, cfg.tau, cfg.beam_size).1,
        }
    }

    /// Writes the codes into `c` (same parameter ids).
    fn write(&self, c: &mut CodedWeight) {
        match (self, c) {
            (HostCodes::Scalar(p), CodedWeight::Scalar(s)) => {
                let codes = p.codes.iter().map(|&c| i64::from(c)).collect();
                s.weight_codes = replace_int(&s.weight_codes, codes, [p.rows, p.cols]);
            }
            (HostCodes::Vq(w), CodedWeight::Vq(v)) => {
                let codes = w.codes.iter().map(|&c| i64::from(c)).collect();
                let shape = [w.rows, w.cols / w.group, w.m];
                v.weight_codes = replace_int(&v.weight_codes, codes, shape);
            }
            _ => {}
        }
    }
}

/// One layer's V-step: inputs read from the module, host work, results.
struct Job {
    name: String,
    g: Vec<f32>,
    w_old: Vec<f32>,
    codes: HostCodes,
    state: VLayer,
    stats: VStepStats,
    rel: f64,
}

impl Job {
    /// `T` = one Lamb-Adam step from Z (δ < 1) or Ŵ_old, the codes projected towards it, Z
    /// pulled towards the new Ŵ by δ.
    fn run(&mut self, cfg: &VStepConfig) {
        let mut x = if cfg.delta_decay < 1.0 {
            self.state
                .buffer
                .take()
                .unwrap_or_else(|| self.w_old.clone())
        } else {
            self.w_old.clone()
        };
        lamb_step(&mut x, &self.g, &mut self.state.lamb, &cfg.lamb);
        self.stats = self.codes.vstep(&x, cfg);
        let w_new = self.codes.decode();
        if cfg.delta_decay < 1.0 {
            if cfg.delta_decay > 0.0 {
                let d = cfg.delta_decay as f32;
                x.iter_mut()
                    .zip(&w_new)
                    .for_each(|(z, &w)| *z = d * w + (1.0 - d) * *z);
            }
            self.state.buffer = Some(x);
        }
        let diff: Vec<f32> = w_new.iter().zip(&self.w_old).map(|(a, b)| a - b).collect();
        self.rel = (sq_norm(&diff) / sq_norm(&self.w_old).max(f64::MIN_POSITIVE)).sqrt();
    }
}

impl OptimizerState for PvOptimizer {
    fn name(&self) -> &str {
        match self.v {
            None => "p-only",
            Some(v) if v.delta_decay < 1.0 => "pv-ste",
            Some(_) => "pv",
        }
    }

    fn steps(&self) -> u64 {
        self.p.steps()
    }

    /// AdamW's moments plus, per coded layer `NAME`, `NAME.v_exp_avg(_sq)` (the V direction's
    /// moments) and `NAME.st_buffer` (Z), flattened.
    fn state_dict(&self) -> Result<BTreeMap<String, HostTensor>, OptimError> {
        let mut out = self.p.state_dict()?;
        for (name, l) in &self.layers {
            let parts = [&l.lamb.exp_avg, &l.lamb.exp_avg_sq, &l.buffer];
            for (suffix, v) in SUFFIXES.iter().zip(parts) {
                if let Some(v) = v {
                    out.insert(
                        format!("{name}{suffix}"),
                        HostTensor::f32(vec![v.len()], v.clone()),
                    );
                }
            }
        }
        Ok(out)
    }

    /// Per coded layer: `codes_changed/<layer>` (fraction of code groups changed this step)
    /// and `weight_change/<layer>` (‖Ŵ_new − Ŵ_old‖ / ‖Ŵ_old‖), plus their layer means; the
    /// wall seconds of the P-step (`p_step_s`) and of the V-step (`v_step_s`).
    fn step_scalars(&self) -> BTreeMap<String, f64> {
        self.stats.clone()
    }
}

impl Optimizer<Llama> for PvOptimizer {
    fn step(
        &mut self,
        module: Llama,
        mut grads: GradientsParams,
        lr: f64,
        grad_scale: f64,
    ) -> Result<Llama, OptimError> {
        // 1. G of every probed layer, and its decoded weight before the step.
        let mut g_of: BTreeMap<String, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
        for l in module.linears() {
            let Some(c) = l.weight.coded() else { continue };
            let Some(probe) = c.probe() else { continue };
            let Some(g) = grads.remove::<2>(probe.id) else {
                continue;
            };
            let g = host(
                g.mul_scalar(grad_scale),
                &format!("{}.weight_probe", l.name),
            )?;
            let w = host(c.decode().detach(), &l.name)?;
            g_of.insert(l.name.clone(), (g, w));
        }
        // 2. P-step.
        let t0 = Instant::now();
        let module = self.p.step(module, grads, lr, grad_scale)?;
        self.stats.clear();
        self.stats
            .insert("p_step_s".into(), t0.elapsed().as_secs_f64());
        let Some(cfg) = self.v else {
            return Ok(module);
        };
        let t1 = Instant::now();
        // 3. V-step: read every probed layer to the host, step the layers in parallel (each
        //    is independent, so the result does not depend on the thread count), write back.
        let mut jobs = Vec::new();
        for l in module.linears() {
            let (Some((g, w_old)), Some(c)) = (g_of.remove(&l.name), l.weight.coded()) else {
                continue;
            };
            jobs.push(Job {
                codes: HostCodes::read(&l.name, c)?,
                state: self.layers.remove(&l.name).unwrap_or_default(),
                name: l.name.clone(),
                g,
                w_old,
                stats: VStepStats::default(),
                rel: 0.0,
            });
        }
        jobs.par_iter_mut().for_each(|j| j.run(&cfg));
        let by_name: BTreeMap<String, Job> =
            jobs.into_iter().map(|j| (j.name.clone(), j)).collect();
        let module = module
            .map_linears(|name, mut l| {
                if let (Some(j), WeightRepr::Coded(c)) = (by_name.get(name), &mut l.weight) {
                    j.codes.write(c);
                }
                Ok(l)
            })
            .map_err(|e| OptimError::Module(e.to_string()))?;
        let mut sums = (0.0, 0.0, 0usize);
        for (name, j) in by_name {
            let frac = j.stats.changed as f64 / j.stats.groups.max(1) as f64;
            let short = name.trim_start_matches("model.");
            self.stats.insert(format!("codes_changed/{short}"), frac);
            self.stats.insert(format!("weight_change/{short}"), j.rel);
            sums = (sums.0 + frac, sums.1 + j.rel, sums.2 + 1);
            self.layers.insert(name, j.state);
        }
        // Wall time of the V-step (probe read-back excluded), for its share of a step.
        self.stats
            .insert("v_step_s".into(), t1.elapsed().as_secs_f64());
        if sums.2 > 0 {
            let n = sums.2 as f64;
            self.stats.insert("codes_changed".into(), sums.0 / n);
            self.stats.insert("weight_change".into(), sums.1 / n);
        }
        Ok(module)
    }

    fn load_state_dict(
        &mut self,
        module: &Llama,
        tensors: &BTreeMap<String, HostTensor>,
        steps: u64,
        device: &Device,
    ) -> Result<(), OptimError> {
        let coded: BTreeMap<String, usize> = module
            .linears()
            .iter()
            .filter(|l| l.weight.coded().is_some())
            .map(|l| {
                let [r, c] = l.weight.dims();
                (l.name.clone(), r * c)
            })
            .collect();
        let mut rest = BTreeMap::new();
        self.layers.clear();
        for (key, t) in tensors {
            let Some((name, suffix)) = SUFFIXES
                .iter()
                .find_map(|s| key.strip_suffix(s).map(|n| (n.to_string(), *s)))
            else {
                rest.insert(key.clone(), t.clone());
                continue;
            };
            let Some(&size) = coded.get(&name) else {
                return Err(OptimError::UnexpectedState {
                    tensor: key.clone(),
                    reason: "it names no coded layer of the model".into(),
                });
            };
            let HostData::F32(v) = &t.data else {
                return Err(OptimError::UnexpectedState {
                    tensor: key.clone(),
                    reason: "V-step state is f32".into(),
                });
            };
            if v.len() != size {
                return Err(OptimError::StateSize {
                    param: name,
                    tensor: key.clone(),
                    expected: size,
                    found: v.len(),
                });
            }
            let l = self.layers.entry(name).or_default();
            l.lamb.step = steps;
            match suffix {
                ".v_exp_avg" => l.lamb.exp_avg = Some(v.clone()),
                ".v_exp_avg_sq" => l.lamb.exp_avg_sq = Some(v.clone()),
                _ => l.buffer = Some(v.clone()),
            }
        }
        self.p.load_state_dict(module, &rest, steps, device)
    }
}
