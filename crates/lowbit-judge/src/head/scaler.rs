//! scikit-learn's `StandardScaler`: per column (x − mean) / std with the population std
//! (ddof = 0); a constant column gets scale 1, as sklearn does, so it maps to 0.

use crate::error::JudgeError;

/// Column means and scales.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaler {
    /// Column means.
    pub mean: Vec<f64>,
    /// Column standard deviations (1 for constant columns).
    pub scale: Vec<f64>,
}

impl Scaler {
    /// Fits on the `rows × cols` row-major matrix `x` (two-pass in f64).
    pub fn fit(x: &[f32], rows: usize, cols: usize) -> Result<Self, JudgeError> {
        if rows == 0 || cols == 0 || x.len() != rows * cols {
            return Err(JudgeError::Input(format!(
                "scaler: {} values for {rows} rows × {cols} columns",
                x.len()
            )));
        }
        let mut mean = vec![0.0f64; cols];
        for r in x.chunks_exact(cols) {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows as f64);
        let mut var = vec![0.0f64; cols];
        for r in x.chunks_exact(cols) {
            for ((s, &v), m) in var.iter_mut().zip(r).zip(&mean) {
                let d = f64::from(v) - m;
                *s += d * d;
            }
        }
        // sklearn's `_is_constant_feature`: a variance within rounding of zero for this mean
        // and row count is zero, and the column keeps scale 1.
        let n = rows as f64;
        let eps = f64::EPSILON;
        let scale = var
            .iter()
            .zip(&mean)
            .map(|(&s, &m)| {
                let v = s / n;
                if v <= n * eps * v + (n * m * eps).powi(2) {
                    1.0
                } else {
                    v.sqrt()
                }
            })
            .collect();
        Ok(Self { mean, scale })
    }

    /// One standardised row.
    pub fn transform_row(&self, row: &[f32]) -> Vec<f64> {
        row.iter()
            .zip(self.mean.iter().zip(&self.scale))
            .map(|(&v, (m, s))| (f64::from(v) - m) / s)
            .collect()
    }

    /// The standardised rows of a matrix.
    pub fn transform(&self, x: &[f32], cols: usize) -> Vec<f64> {
        x.chunks_exact(cols.max(1))
            .flat_map(|r| self.transform_row(r))
            .collect()
    }
}
