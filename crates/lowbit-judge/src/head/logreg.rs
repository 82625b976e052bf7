//! L2-regularised logistic regression as scikit-learn's `LogisticRegression(C, penalty="l2",
//! solver="lbfgs")` fits it: minimise `Σ_i logloss(y_i, w·x_i + b) + ‖w‖² / (2C)` with the
//! intercept unpenalised. sklearn (≥ 1.1) scales the objective by 1/n, which changes nothing but
//! the tolerances; so does lowbit. The minimiser is argmin's L-BFGS with a Moré–Thuente line
//! search, in f64.

use crate::error::JudgeError;
use argmin::core::{CostFunction, Error, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use std::cell::RefCell;

/// Coefficients and intercept.
#[derive(Debug, Clone, PartialEq)]
pub struct LogReg {
    /// One weight per feature.
    pub coef: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
    /// L-BFGS iterations run.
    pub iterations: u64,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// log(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

impl LogReg {
    /// P(y = 1) of one standardised row.
    pub fn predict_proba(&self, x: &[f64]) -> f64 {
        sigmoid(self.decision(x))
    }

    /// w·x + b.
    pub fn decision(&self, x: &[f64]) -> f64 {
        self.coef.iter().zip(x).map(|(w, v)| w * v).sum::<f64>() + self.intercept
    }
}

/// θ with the objective and gradient there.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

struct Problem<'a> {
    x: &'a [f64],
    y: &'a [bool],
    cols: usize,
    c: f64,
    /// The last (θ, objective, gradient): argmin asks for the cost and the gradient at the same
    /// point separately, and one pass over the rows computes both.
    last: RefCell<Option<Evaluated>>,
}

impl Problem<'_> {
    /// [`Problem::eval`], reusing the last result at the same θ.
    fn eval_cached(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        if let Some((t, f, g)) = self.last.borrow().as_ref()
            && t.as_slice() == theta
        {
            return (*f, g.clone());
        }
        let (f, g) = self.eval(theta);
        *self.last.borrow_mut() = Some((theta.to_vec(), f, g.clone()));
        (f, g)
    }

    /// Objective and gradient at θ = [w; b].
    fn eval(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let n = self.y.len() as f64;
        let (w, b) = theta.split_at(self.cols);
        let mut g = vec![0.0; theta.len()];
        let mut loss = 0.0;
        for (row, &y) in self.x.chunks_exact(self.cols).zip(self.y) {
            let z = w.iter().zip(row).map(|(a, v)| a * v).sum::<f64>() + b[0];
            let t = if y { 1.0 } else { 0.0 };
            loss += softplus(z) - t * z;
            let r = sigmoid(z) - t;
            for (gi, v) in g.iter_mut().zip(row) {
                *gi += r * v;
            }
            g[self.cols] += r;
        }
        let reg: f64 = w.iter().map(|a| a * a).sum::<f64>() / (2.0 * self.c);
        for (gi, a) in g.iter_mut().zip(w) {
            *gi = (*gi + a / self.c) / n;
        }
        g[self.cols] /= n;
        ((loss + reg) / n, g)
    }
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
        Ok(self.eval_cached(p).0)
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, Error> {
        Ok(self.eval_cached(p).1)
    }
}

/// Fits on standardised rows `x` (`rows × cols`, row-major) and labels `y`, from zero, for at
/// most `max_iter` L-BFGS iterations (memory 10, sklearn's scipy default), stopping when the
/// gradient's norm falls below `tol` (on the 1/n-scaled objective) or the objective changes by
/// less than 4 ulp between iterations.
pub fn fit_logreg(
    x: &[f64],
    y: &[bool],
    rows: usize,
    cols: usize,
    c: f64,
    max_iter: u64,
    tol: f64,
) -> Result<LogReg, JudgeError> {
    if rows == 0 || cols == 0 || x.len() != rows * cols || y.len() != rows {
        return Err(JudgeError::Input(format!(
            "logistic regression: {} values and {} labels for {rows} rows × {cols} columns",
            x.len(),
            y.len()
        )));
    }
    if !(c.is_finite() && c > 0.0) {
        return Err(JudgeError::Input(format!("C = {c} must be finite and > 0")));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(JudgeError::Input(
            "features hold NaN or infinite values".into(),
        ));
    }
    let problem = Problem {
        x,
        y,
        cols,
        c,
        last: RefCell::new(None),
    };
    // argmin runs the line search without an iteration limit and, by default, with no upper
    // bound on the step: on a flat objective (w ≈ 0 at tiny C, where a gradient below `tol` is
    // not representable in the cost) it then extrapolates without end. A bounded step makes
    // Moré–Thuente stop at the bound, and a cost change of a few ulps — no progress left in
    // f64 — ends the run (scipy's L-BFGS-B, under sklearn, has the like `ftol` test).
    let line_search = MoreThuenteLineSearch::new()
        .with_bounds(f64::EPSILON.sqrt() * 1e-4, 1e8)
        .map_err(|e| JudgeError::Solver(e.to_string()))?;
    let solver = LBFGS::new(line_search, 10)
        .with_tolerance_grad(tol)
        .and_then(|s| s.with_tolerance_cost(4.0 * f64::EPSILON))
        .map_err(|e| JudgeError::Solver(e.to_string()))?;
    let res = Executor::new(problem, solver)
        .configure(|s| s.param(vec![0.0; cols + 1]).max_iters(max_iter))
        .timer(false)
        .run()
        .map_err(|e| JudgeError::Solver(e.to_string()))?;
    let iterations = res.state.get_iter();
    let theta = res
        .state
        .get_best_param()
        .cloned()
        .ok_or_else(|| JudgeError::Solver("L-BFGS returned no parameters".into()))?;
    if theta.iter().any(|v| !v.is_finite()) {
        return Err(JudgeError::Solver(
            "L-BFGS diverged (non-finite weights)".into(),
        ));
    }
    Ok(LogReg {
        coef: theta[..cols].to_vec(),
        intercept: theta[cols],
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let x = [0.5, -1.0, 2.0, 0.3, -0.7, 1.1];
        let y = [true, false, true];
        let p = Problem {
            x: &x,
            y: &y,
            cols: 2,
            c: 0.7,
            last: RefCell::new(None),
        };
        let theta = [0.2, -0.4, 0.1];
        let (_, g) = p.eval(&theta);
        for i in 0..3 {
            let mut a = theta;
            let mut b = theta;
            a[i] += 1e-6;
            b[i] -= 1e-6;
            let fd = (p.eval(&a).0 - p.eval(&b).0) / 2e-6;
            assert!((fd - g[i]).abs() < 1e-8, "{i}: {fd} vs {}", g[i]);
        }
    }
}
