//! Properties of grid learning on synthetic heavy-tailed blocks.

use super::*;
use lowbit_formats::{Format, GridFile, ScaleRule};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Normal, StudentT};

const BLOCK: usize = 16;

/// `n` blocks of Student-t(3) (or Laplace) values, each block with its own log-normal scale.
fn heavy_blocks(n: usize, laplace: bool, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let t = StudentT::new(3.0f32).unwrap();
    let e = Exp::new(1.0f32).unwrap();
    let s = Normal::new(0.0f32, 0.5).unwrap();
    let mut v = Vec::with_capacity(n * BLOCK);
    for _ in 0..n {
        let scale = s.sample(&mut rng).exp();
        for _ in 0..BLOCK {
            let x = if laplace {
                let m: f32 = e.sample(&mut rng);
                if rng.random::<bool>() { m } else { -m }
            } else {
                t.sample(&mut rng)
            };
            v.push(x * scale);
        }
    }
    v
}

fn set_of(values: &[f32]) -> BlockSet {
    let amax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    let mut s = BlockSet::new(BLOCK).unwrap();
    s.push(values, amax, None).unwrap();
    s
}

fn non_increasing(v: &[f64]) -> bool {
    v.windows(2).all(|w| w[1] <= w[0])
}

fn mse(f: &Format, x: &[f32]) -> f64 {
    let mut q = x.to_vec();
    f.fake_quant(&mut q, BLOCK).unwrap();
    x.iter()
        .zip(&q)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum::<f64>()
        / x.len() as f64
}

#[test]
fn objective_is_non_increasing_and_the_file_is_a_format() {
    let set = set_of(&heavy_blocks(6000, false, 1));
    let cfg = LearnConfig::family(Family::Mpo2, 2);
    let l = learn(&set, &cfg).unwrap();
    assert!(l.objective.len() >= 3, "{:?}", l.objective);
    assert!(non_increasing(&l.objective), "{:?}", l.objective);
    assert!(l.objective.last() < l.objective.first());
    for g in &l.grids {
        assert!(g.windows(2).all(|w| w[0] <= w[1]), "{g:?}");
        assert_eq!(g.iter().fold(0f32, |m, v| m.max(v.abs())), 6.0);
        assert!(g.contains(&0.0), "explicit zero kept: {g:?}");
    }
    let file = l
        .to_grid_file("mpo2-test", "test".into(), "synthetic".into())
        .unwrap();
    let text = toml_roundtrip(&file);
    assert_eq!(text.grids, l.grids);
    assert_eq!(text.objective, l.objective);
    assert!(l.grid_share.iter().all(|&s| s > 0.0), "{:?}", l.grid_share);
}

fn toml_roundtrip(f: &GridFile) -> GridFile {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    f.save(&p).unwrap();
    GridFile::load(&p).unwrap()
}

#[test]
fn same_seed_same_grids_whatever_the_thread_count() {
    let set = set_of(&heavy_blocks(3000, true, 2));
    let mut cfg = LearnConfig::family(Family::Mpo2, 2);
    cfg.seed = 9;
    cfg.max_iters = 15;
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| learn(&set, &cfg).unwrap())
    };
    let a = run(1);
    assert_eq!(a, run(3));
    assert_eq!(a, learn(&set, &cfg).unwrap());
}

#[test]
fn three_grids_learn_under_the_coarse_scale_lattice() {
    let set = set_of(&heavy_blocks(4000, false, 3));
    let l = learn(&set, &LearnConfig::family(Family::Mpo2, 3)).unwrap();
    assert_eq!(l.grids.len(), 3);
    assert!(non_increasing(&l.objective), "{:?}", l.objective);
    let f = l.to_grid_file("mpo2-k3", "t".into(), "t".into()).unwrap();
    let g = f.to_format().unwrap();
    assert_eq!(g.grids().len(), 3);
    assert_eq!(g.bits_per_value(), 4.5);
}

#[test]
fn importance_pulls_levels_toward_heavy_values() {
    // F32 scales and a ±6 element per block: the normalised values are the values themselves.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let n = 4000;
    let mut x = Vec::with_capacity(n * BLOCK);
    for b in 0..n {
        x.push(if b % 2 == 0 { 6.0 } else { -6.0 });
        x.extend((1..BLOCK).map(|_| rng.random_range(-5.9f32..5.9)));
    }
    let heavy = |v: f32| (2.0..3.0).contains(&v);
    let w: Vec<f32> = x
        .iter()
        .map(|&v| if heavy(v) { 100.0 } else { 1.0 })
        .collect();
    let mut plain = BlockSet::new(BLOCK).unwrap();
    plain.push(&x, 6.0, None).unwrap();
    let mut weighted = BlockSet::new(BLOCK).unwrap();
    weighted.push(&x, 6.0, Some(&w)).unwrap();
    let mut cfg = LearnConfig::family(Family::Mpo2, 2);
    cfg.scale = ScaleRule::F32;
    let a = learn(&plain, &cfg).unwrap();
    let b = learn(&weighted, &cfg).unwrap();
    let inside = |l: &Learned| l.grids.iter().flatten().filter(|&&v| heavy(v)).count();
    let err = |l: &Learned| -> f64 {
        let hv: Vec<f32> = x.iter().copied().filter(|&v| heavy(v)).collect();
        let best = |v: f32| {
            l.grids
                .iter()
                .map(|g| g.iter().map(|&q| (v - q).powi(2)).fold(f32::MAX, f32::min))
                .fold(f32::MAX, f32::min) as f64
        };
        hv.iter().map(|&v| best(v)).sum::<f64>() / hv.len() as f64
    };
    assert!(inside(&b) > inside(&a), "{:?} vs {:?}", b.grids, a.grids);
    assert!(err(&b) < 0.5 * err(&a), "{} vs {}", err(&b), err(&a));
}

#[test]
fn learned_nf4_partner_beats_the_e2m1_placeholder_on_heavy_tails() {
    for (laplace, seed) in [(false, 5), (true, 6)] {
        let x = heavy_blocks(8000, laplace, seed);
        let l = learn(&set_of(&x), &LearnConfig::family(Family::Po2Nf4, 2)).unwrap();
        let nf4 = GridFile::builtin("po2-nf4").unwrap();
        assert_eq!(l.grids[0], nf4.grids[0], "grid 0 stays NF4·6");
        let file = l.to_grid_file("po2-nf4", "t".into(), "t".into()).unwrap();
        let learned = Format::Grid(file.to_format().unwrap());
        let placeholder = Format::parse("po2-nf4").unwrap();
        let (m1, m0) = (mse(&learned, &x), mse(&placeholder, &x));
        eprintln!(
            "laplace {laplace}: MSE learned {m1:.6e} vs placeholder {m0:.6e}; {} iterations, \
             objective {:.6e} -> {:.6e}, grid share {:?}",
            l.iterations,
            l.objective[0],
            l.objective[l.objective.len() - 1],
            l.grid_share
        );
        assert!(
            m1 < m0,
            "laplace {laplace}: learned {m1} vs placeholder {m0}"
        );
        assert!(non_increasing(&l.objective));
    }
}
