//! The summary CSV's points: one per finished run, with the weight format's Gaussian MSE (the
//! `gmse` column, input of `--rho capacity`) measured once per format through `lowbit-formats`.

use crate::error::SweepError;
use crate::expand::PlannedRun;
use crate::outcome::RunOutcome;
use lowbit_scaling::Point;
use std::collections::BTreeMap;
use std::path::Path;

/// Gaussian samples per format for the `gmse` column (SE ≈ 0.1% for 4-bit formats).
pub const GMSE_SAMPLES: usize = 1 << 20;

/// Points of the summary: one per run, the final validation loss, and the weight format's GMSE
/// for quantized recipes (input of `--rho capacity`).
pub(crate) fn summary_points(
    runs: &[PlannedRun],
    outcomes: &[RunOutcome],
    root: &Path,
) -> Result<Vec<Point>, SweepError> {
    let mut gmse: BTreeMap<String, f64> = BTreeMap::new();
    let mut points = Vec::new();
    for (run, o) in runs.iter().zip(outcomes) {
        let Some(loss) = o.val_loss else { continue };
        let g = match &run.recipe.compression.weight {
            Some(w) => Some(match gmse.get(w) {
                Some(g) => *g,
                None => {
                    let g = measure_gmse(run, w, root)?;
                    gmse.insert(w.clone(), g);
                    g
                }
            }),
            None => None,
        };
        points.push(Point {
            run: o.run.clone(),
            format: o.format.clone(),
            n_params: o.n_params as f64,
            tokens: o.tokens as f64,
            loss,
            weight_format: Some(o.weight_format.clone()),
            act_format: Some(o.act_format.clone()),
            sparsity: None,
            gmse: g,
        });
    }
    Ok(points)
}

fn measure_gmse(run: &PlannedRun, format: &str, root: &Path) -> Result<f64, SweepError> {
    let err = |message: String| SweepError::Gmse {
        run: run.name.clone(),
        format: format.to_string(),
        message,
    };
    // The registry the run trained with (lowbit-train's one rule for a recipe's grids).
    let reg = lowbit_train::recipe::recipe_registry(&run.recipe, root)
        .map_err(|(key, message)| err(format!("{key}: {message}")))?;
    let f = lowbit_formats::Format::parse_with(format, &reg).map_err(|e| err(e.to_string()))?;
    let g = lowbit_formats::gmse::gmse(&f, GMSE_SAMPLES, 0).map_err(|e| err(e.to_string()))?;
    Ok(g.gmse)
}
