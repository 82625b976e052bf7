//! Initial grids: E2M1 and NF4 as 16-level tables of maximum 6, weighted k-means++ seeding
//! (Arthur & Vassilvitskii 2007) refined by 1-D Lloyd, and the max-6 renormalisation.

use super::blocks::GRID_MAX;
use super::error::GridLearnError;
use lowbit_formats::elem::e2m1::E2M1_VALUES;
use lowbit_formats::elem::nf4::NF4_VALUES;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// 1-D Lloyd refinements of the k-means++ seeds on the pooled values.
const REFINE_ITERS: usize = 25;

/// E2M1 as a 16-level table. E2M1 spends two codes on ±0; a table grid needs 16 distinct levels
/// for Lloyd to move all 16, so the second zero becomes −0.25 (midway between −0.5 and 0).
pub fn e2m1_levels() -> Vec<f32> {
    let mut levels: Vec<f32> = E2M1_VALUES
        .iter()
        .filter(|v| **v != 0.0)
        .copied()
        .chain([0.0, -0.25])
        .collect();
    levels.sort_by(f32::total_cmp);
    levels
}

/// NF4 (bitsandbytes) rescaled to maximum 6: the f32 product `NF4 · 6`, as in the built-in
/// `po2-nf4` grid file.
pub fn nf4_levels() -> Vec<f32> {
    NF4_VALUES.iter().map(|v| v * GRID_MAX).collect()
}

/// Scales `levels` so that the largest magnitude is exactly ±6 (0 stays 0); `None` if all are 0.
pub fn renormalise(levels: &[f32]) -> Option<Vec<f32>> {
    let (i, m) = extreme(levels)?;
    let f = GRID_MAX as f64 / m.abs() as f64;
    let mut out: Vec<f32> = levels.iter().map(|&v| (v as f64 * f) as f32).collect();
    out[i] = GRID_MAX.copysign(m);
    for v in &mut out {
        *v = v.clamp(-GRID_MAX, GRID_MAX);
    }
    Some(out)
}

/// Index and value of the level of largest magnitude (the first on ties); `None` if all are 0.
pub fn extreme(levels: &[f32]) -> Option<(usize, f32)> {
    let (i, m) = levels
        .iter()
        .copied()
        .enumerate()
        .fold(
            (0, 0f32),
            |b, (i, v)| if v.abs() > b.1.abs() { (i, v) } else { b },
        );
    (m != 0.0).then_some((i, m))
}

/// Weighted k-means++ seeding of `k` centres on `(value, weight)` pairs, then 1-D Lloyd on the
/// same pairs; with `explicit_zero` the centre nearest 0 becomes exactly 0. Returns the centres
/// ascending, renormalised to maximum 6.
pub fn kmeans_pp(
    pool: &[(f32, f32)],
    k: usize,
    explicit_zero: bool,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f32>, GridLearnError> {
    let few = || {
        GridLearnError::NoBlocks(format!(
            "k-means++ needs {k} distinct weighted values, the worst-fit blocks have fewer; \
             capture more blocks"
        ))
    };
    let total: f64 = pool.iter().map(|p| p.1 as f64).sum();
    if pool.is_empty() || total <= 0.0 {
        return Err(few());
    }
    let mut centres = vec![pool[sample(pool.iter().map(|p| p.1 as f64), total, rng)].0];
    let mut d2: Vec<f64> = pool
        .iter()
        .map(|p| (p.0 as f64 - centres[0] as f64).powi(2))
        .collect();
    while centres.len() < k {
        let mass: f64 = pool.iter().zip(&d2).map(|(p, d)| p.1 as f64 * d).sum();
        if mass <= 0.0 {
            return Err(few());
        }
        let i = sample(pool.iter().zip(&d2).map(|(p, d)| p.1 as f64 * d), mass, rng);
        let c = pool[i].0;
        centres.push(c);
        for (d, p) in d2.iter_mut().zip(pool) {
            *d = d.min((p.0 as f64 - c as f64).powi(2));
        }
    }
    centres.sort_by(f32::total_cmp);
    refine(pool, &mut centres);
    if explicit_zero && !centres.contains(&0.0) {
        let z = (0..k)
            .min_by(|&a, &b| centres[a].abs().total_cmp(&centres[b].abs()))
            .ok_or_else(few)?;
        centres[z] = 0.0;
    }
    centres.sort_by(f32::total_cmp);
    renormalise(&centres).ok_or_else(few)
}

/// Draws an index with probability proportional to `weights` (which sum to `total`).
fn sample(weights: impl Iterator<Item = f64>, total: f64, rng: &mut ChaCha8Rng) -> usize {
    let r = rng.random::<f64>() * total;
    let mut acc = 0.0;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if w > 0.0 {
            last = i;
            acc += w;
            if acc > r {
                return i;
            }
        }
    }
    last
}

/// Weighted 1-D Lloyd on the pool; empty cells keep their centre.
fn refine(pool: &[(f32, f32)], centres: &mut [f32]) {
    let k = centres.len();
    for _ in 0..REFINE_ITERS {
        let mids: Vec<f32> = centres.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
        let mut sw = vec![0f64; k];
        let mut swx = vec![0f64; k];
        for &(v, w) in pool {
            let c = mids.partition_point(|&m| m < v);
            sw[c] += w as f64;
            swx[c] += w as f64 * v as f64;
        }
        let mut changed = false;
        for c in 0..k {
            if sw[c] > 0.0 {
                let m = (swx[c] / sw[c]) as f32;
                changed |= m != centres[c];
                centres[c] = m;
            }
        }
        centres.sort_by(f32::total_cmp);
        if !changed {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn e2m1_and_nf4_tables() {
        let e = e2m1_levels();
        assert_eq!(e.len(), 16);
        assert!(e.windows(2).all(|w| w[0] < w[1]));
        assert_eq!((e[0], e[15]), (-6.0, 6.0));
        assert!(e.contains(&-0.25));
        assert!(e.iter().any(|v| v.to_bits() == 0), "+0, not -0: {e:?}");
        let po2 = lowbit_formats::GridFile::builtin("po2-nf4").unwrap();
        assert_eq!(nf4_levels(), po2.grids[0]);
    }

    #[test]
    fn renormalise_hits_six_exactly() {
        let r = renormalise(&[-2.9, 0.0, 1.3, 3.7]).unwrap();
        assert_eq!((r[1], r[3]), (0.0, 6.0));
        assert!(renormalise(&[0.0, 0.0]).is_none());
    }

    #[test]
    fn kmeans_pp_finds_separated_clusters() {
        let pool: Vec<(f32, f32)> = (0..400)
            .map(|i| {
                (
                    [-5.0f32, -1.0, 0.2, 3.0][i % 4] + (i % 7) as f32 * 1e-3,
                    1.0,
                )
            })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let c = kmeans_pp(&pool, 4, true, &mut rng).unwrap();
        assert_eq!(c.len(), 4);
        assert!(c.contains(&0.0), "{c:?}");
        assert_eq!(c[0], -6.0);
        assert!(kmeans_pp(&[(1.0, 1.0); 10], 4, false, &mut rng).is_err());
    }
}
