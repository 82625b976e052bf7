//! The learning loop (shared/specs/grids-and-capacity.md "Grid learning"): initial grids, then
//! Lloyd iterations until the relative decrease of the weighted SSE is below the tolerance or
//! the iteration budget is spent; the result becomes a [`GridFile`].

use super::blocks::{BlockSet, Normalised};
use super::error::GridLearnError;
use super::init::{e2m1_levels, kmeans_pp, nf4_levels, renormalise};
use super::lloyd::{Pass, assign, candidates};
use lowbit_formats::grid::TableGrid;
use lowbit_formats::{GridFile, ScaleRule};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Most worst-fit blocks pooled for k-means++ seeding.
const MAX_SEED_BLOCKS: usize = 4096;

/// A grid family that can be learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// MPO2: every grid learned; grid 0 starts at E2M1, the others at k-means++ seeds.
    Mpo2,
    /// PO2(NF4): grid 0 = NF4·6, frozen; the partner grids are learned from k-means++ seeds.
    Po2Nf4,
}

impl Family {
    /// The name used on the command line and as the default grid-file name.
    pub fn name(&self) -> &'static str {
        match self {
            Family::Mpo2 => "mpo2",
            Family::Po2Nf4 => "po2-nf4",
        }
    }
}

impl std::str::FromStr for Family {
    type Err = GridLearnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mpo2" => Ok(Family::Mpo2),
            "po2-nf4" => Ok(Family::Po2Nf4),
            _ => Err(GridLearnError::Config(format!(
                "unknown family `{s}` (use mpo2 or po2-nf4)"
            ))),
        }
    }
}

/// Where one grid starts.
#[derive(Debug, Clone, PartialEq)]
pub enum GridInit {
    /// E2M1 as a table (see [`e2m1_levels`]).
    E2m1,
    /// NF4 rescaled to maximum 6.
    Nf4,
    /// Given levels (renormalised to maximum 6).
    Levels(Vec<f32>),
    /// Weighted k-means++ on the normalised values of the blocks the grids before it fit worst.
    KMeansPlusPlus,
}

/// One grid of the family: its start and whether it is learned.
#[derive(Debug, Clone, PartialEq)]
pub struct GridSpec {
    /// Initial levels.
    pub init: GridInit,
    /// A frozen grid keeps its initial levels (it still competes for blocks).
    pub frozen: bool,
}

/// Settings of a learning run.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnConfig {
    /// The grids, in selector order (K = `grids.len()` ≥ 2).
    pub grids: Vec<GridSpec>,
    /// Bits per code: every grid has 2^bits levels.
    pub bits: u32,
    /// Block scale rule used to normalise blocks (and written to the grid file).
    pub scale: ScaleRule,
    /// Keep a level at exactly 0 in every learned grid.
    pub explicit_zero: bool,
    /// Iteration budget.
    pub max_iters: usize,
    /// Stop when the objective's relative decrease in one iteration is below this.
    pub tol: f64,
    /// Fraction of the blocks (worst fit first) pooled to seed each k-means++ grid.
    pub worst_fraction: f64,
    /// Seed of every random choice (k-means++).
    pub seed: u64,
}

impl LearnConfig {
    /// The family's grids with lowbit's defaults: K grids, 4 bits, NVFP4 two-level scales,
    /// explicit zero, 100 iterations, tolerance 1e-4, seeds from the worst-fitting quarter.
    pub fn family(family: Family, k: usize) -> Self {
        let first = match family {
            Family::Mpo2 => GridSpec {
                init: GridInit::E2m1,
                frozen: false,
            },
            Family::Po2Nf4 => GridSpec {
                init: GridInit::Nf4,
                frozen: true,
            },
        };
        let mut grids = vec![first];
        grids.extend((1..k).map(|_| GridSpec {
            init: GridInit::KMeansPlusPlus,
            frozen: false,
        }));
        Self {
            grids,
            bits: 4,
            scale: ScaleRule::E4m3Global,
            explicit_zero: true,
            max_iters: 100,
            tol: 1e-4,
            worst_fraction: 0.25,
            seed: 0,
        }
    }

    /// E4M3 block scales move to the even-code lattice when K > 2 (the mantissa LSB carries a
    /// selector bit), exactly as `GridFormat` does.
    fn coarse(&self) -> bool {
        self.scale == ScaleRule::E4m3Global && self.grids.len() > 2
    }

    fn validate(&self) -> Result<(), GridLearnError> {
        let bad = |m: String| Err(GridLearnError::Config(m));
        let k = self.grids.len();
        if k < 2 {
            return bad(format!("{k} grid(s): learning needs K ≥ 2"));
        }
        if self.scale == ScaleRule::E4m3Global && k > 4 {
            return bad(format!(
                "{k} grids do not fit the selector bits of E4M3 scales (at most 4)"
            ));
        }
        if !(1..=8).contains(&self.bits) {
            return bad(format!("bits = {} (use 1..=8)", self.bits));
        }
        let fixed16 = |g: &GridSpec| matches!(g.init, GridInit::E2m1 | GridInit::Nf4);
        if self.bits != 4 && self.grids.iter().any(fixed16) {
            return bad("E2M1 and NF4 starts have 16 levels; set bits = 4".into());
        }
        if self.grids.iter().all(|g| g.frozen) {
            return bad("every grid is frozen: nothing to learn".into());
        }
        let fraction_ok = self.worst_fraction > 0.0 && self.worst_fraction <= 1.0;
        if self.tol.is_nan() || self.tol < 0.0 || !fraction_ok {
            return bad("tol must be ≥ 0 and worst_fraction in (0, 1]".into());
        }
        Ok(())
    }
}

/// The outcome of a learning run.
#[derive(Debug, Clone, PartialEq)]
pub struct Learned {
    /// The grids, each ascending with largest magnitude 6.
    pub grids: Vec<Vec<f32>>,
    /// Weighted mean squared error per value on the grid coordinate (grid max 6): the initial
    /// grids first, then one entry per accepted iteration; non-increasing.
    pub objective: Vec<f64>,
    /// Lloyd iterations run.
    pub iterations: usize,
    /// Whether the tolerance (rather than the budget) ended the run.
    pub converged: bool,
    /// Iterations whose max-6 renormalised update was accepted.
    pub renormalised: usize,
    /// Fraction of blocks choosing each grid under the final grids.
    pub grid_share: Vec<f64>,
    /// Blocks learned from (after dropping blocks flushed to zero by their scale).
    pub blocks: usize,
    /// Values per block.
    pub block: usize,
    /// Bits per code.
    pub bits: u32,
    /// The scale rule the blocks were normalised with.
    pub scale: ScaleRule,
}

fn tables(grids: &[Vec<f32>]) -> Result<Vec<TableGrid>, GridLearnError> {
    Ok(grids
        .iter()
        .map(|g| TableGrid::new(g.clone()))
        .collect::<Result<_, _>>()?)
}

/// Learns `cfg.grids.len()` grids from `blocks`.
pub fn learn(blocks: &BlockSet, cfg: &LearnConfig) -> Result<Learned, GridLearnError> {
    cfg.validate()?;
    let data = blocks.normalise(cfg.scale, cfg.coarse());
    if data.blocks() == 0 || data.total_weight <= 0.0 {
        return Err(GridLearnError::NoBlocks(format!(
            "{} blocks given, {} all-zero, {} flushed by their scale, total weight {}",
            blocks.len() + blocks.zero_blocks(),
            blocks.zero_blocks(),
            data.flushed,
            data.total_weight
        )));
    }
    let mut grids = init_grids(&data, cfg)?;
    let mut pass = assign(&data, &tables(&grids)?, false);
    let mean = |p: &Pass| p.sse / data.total_weight;
    let mut objective = vec![mean(&pass)];
    let (mut iterations, mut converged, mut renormalised) = (0, false, 0);
    while iterations < cfg.max_iters {
        iterations += 1;
        let (mut free, mut held) = (Vec::new(), Vec::new());
        for (g, levels) in grids.iter().enumerate() {
            let (f, h) = if cfg.grids[g].frozen {
                (levels.clone(), levels.clone())
            } else {
                candidates(levels, &pass.stats[g], cfg.explicit_zero)
            };
            free.push(f);
            held.push(h);
        }
        let held_pass = assign(&data, &tables(&held)?, false);
        let (next, next_pass, renorm) = if free == held {
            (held, held_pass, false)
        } else {
            let free_pass = assign(&data, &tables(&free)?, false);
            if free_pass.sse <= held_pass.sse {
                (free, free_pass, true)
            } else {
                (held, held_pass, false)
            }
        };
        // Exact arithmetic cannot raise the objective; guard against rounding anyway so the
        // recorded sequence is non-increasing by construction.
        if next_pass.sse > pass.sse {
            converged = true;
            break;
        }
        let rel = if pass.sse > 0.0 {
            (pass.sse - next_pass.sse) / pass.sse
        } else {
            0.0
        };
        grids = next;
        pass = next_pass;
        renormalised += renorm as usize;
        objective.push(mean(&pass));
        if rel < cfg.tol {
            converged = true;
            break;
        }
    }
    let nb = data.blocks() as f64;
    Ok(Learned {
        grid_share: pass
            .blocks_per_grid
            .iter()
            .map(|&c| c as f64 / nb)
            .collect(),
        grids,
        objective,
        iterations,
        converged,
        renormalised,
        blocks: data.blocks(),
        block: data.block,
        bits: cfg.bits,
        scale: cfg.scale,
    })
}

/// Initial grids in order; each k-means++ grid is seeded on the blocks that the grids before
/// it fit worst (on a seeded sample of all blocks if it is the first grid).
fn init_grids(data: &Normalised, cfg: &LearnConfig) -> Result<Vec<Vec<f32>>, GridLearnError> {
    let levels = 1usize << cfg.bits;
    let mut grids: Vec<Vec<f32>> = Vec::new();
    for (g, spec) in cfg.grids.iter().enumerate() {
        let next = match &spec.init {
            GridInit::E2m1 => e2m1_levels(),
            GridInit::Nf4 => nf4_levels(),
            GridInit::Levels(v) => {
                if v.len() != levels {
                    return Err(GridLearnError::Config(format!(
                        "grid {g}: {} initial levels, bits = {} needs {levels}",
                        v.len(),
                        cfg.bits
                    )));
                }
                let mut v = renormalise(v).ok_or_else(|| {
                    GridLearnError::Config(format!("grid {g}: initial levels are all zero"))
                })?;
                v.sort_by(f32::total_cmp);
                v
            }
            GridInit::KMeansPlusPlus => {
                let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
                rng.set_stream(g as u64);
                let pool = seed_pool(data, &grids, cfg.worst_fraction, &mut rng)?;
                kmeans_pp(&pool, levels, cfg.explicit_zero, &mut rng)?
            }
        };
        grids.push(next);
    }
    Ok(grids)
}

/// `(value, weight)` of every element of the worst-fitting blocks under `grids`.
fn seed_pool(
    data: &Normalised,
    grids: &[Vec<f32>],
    fraction: f64,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<(f32, f32)>, GridLearnError> {
    let nb = data.blocks();
    let take = ((nb as f64 * fraction).ceil() as usize).clamp(1, MAX_SEED_BLOCKS.min(nb));
    let mut order: Vec<usize> = (0..nb).collect();
    if grids.is_empty() {
        order.shuffle(rng);
    } else {
        let sse = assign(data, &tables(grids)?, true).block_sse;
        // Worst first; equal errors in block order (a stable sort), so the pool is deterministic.
        order.sort_by(|&a, &b| sse[b].total_cmp(&sse[a]));
    }
    let n = data.block;
    Ok(order[..take]
        .iter()
        .flat_map(|&b| (b * n..(b + 1) * n).map(|i| (data.u[i], data.weight(i))))
        .collect())
}

impl Learned {
    /// The grid file of the learned family: `name`, the grids (ascending, max 6), the block
    /// size and scale rule learned with, a description, the provenance and the objective.
    /// Checked by building its format.
    pub fn to_grid_file(
        &self,
        name: &str,
        description: String,
        learned_from: String,
    ) -> Result<GridFile, GridLearnError> {
        let f = GridFile {
            name: name.to_string(),
            element_bits: self.bits,
            block_size: self.block,
            scale: self.scale.name().to_string(),
            selection: None,
            grids: self.grids.clone(),
            e2m1_grids: Vec::new(),
            description: Some(description),
            learned_from: Some(learned_from),
            objective: self.objective.clone(),
        };
        f.to_format()?;
        Ok(f)
    }
}
