//! The one grid registry of a run: which grid files a recipe's format names resolve through.
//!
//! One rule, used by the recipe validator and the trainer alike (they used to build their own,
//! one per key and one per run, with different precedence): the recipe's explicit
//! `compression.weight_grid_file` and `input_grid_file` first, then every `grids/*.toml` under
//! the command's root (the repository root: the working directory), then the built-ins; the first
//! definition of a family name wins, so a grid file the recipe names is never shadowed by a
//! same-named file in `grids/`. The model is then built from the files this registry used, by
//! content ([`run_grids`]), so nothing reads a grid file after the run starts.

use super::schema::Recipe;
use lowbit_formats::{GridRegistry, GridText};
use std::path::{Path, PathBuf};

/// Where each grid file a recipe may use lives, resolved against `root` (`""` is the working
/// directory, and paths stay as the recipe wrote them): the explicit files, then
/// `root/grids/*.toml` in name order.
pub fn grid_file_paths(recipe: &Recipe, root: &Path) -> Vec<(&'static str, PathBuf)> {
    let c = &recipe.compression;
    let mut v: Vec<(&'static str, PathBuf)> = Vec::new();
    for (key, f) in [
        ("compression.weight_grid_file", &c.weight_grid_file),
        ("compression.input_grid_file", &c.input_grid_file),
    ] {
        if let Some(f) = f {
            v.push((key, root.join(f)));
        }
    }
    let mut dir: Vec<PathBuf> = std::fs::read_dir(root.join("grids"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    dir.sort();
    v.extend(dir.into_iter().map(|p| ("grids/", p)));
    v
}

/// The run's registry (see the module doc). The error is `(recipe key, message)`: the key that
/// named a bad file, or `grids/` for a bad file there.
pub fn recipe_registry(recipe: &Recipe, root: &Path) -> Result<GridRegistry, (String, String)> {
    let mut reg = GridRegistry::builtin();
    for (key, p) in grid_file_paths(recipe, root) {
        reg = reg
            .with_file(&p)
            .map_err(|e| (key.to_string(), e.to_string()))?;
    }
    Ok(reg)
}

/// The grid files (by content) that the recipe's weight and input formats resolve through in
/// `reg`: what the model is built from and every checkpoint carries.
pub fn run_grids(recipe: &Recipe, reg: &GridRegistry) -> Vec<GridText> {
    let c = &recipe.compression;
    let names: Vec<&str> = [&c.weight, &c.input]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    reg.used_by(&names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-grid family `name` whose levels are E2M1's scaled by `k` (a valid grid file).
    fn grid_toml(name: &str, k: f32) -> String {
        let levels = [
            -6.0f32, -4.0, -3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0,
            6.0,
        ];
        let v: Vec<String> = levels.iter().map(|l| format!("{}", l * k)).collect();
        format!(
            "name = \"{name}\"\nelement_bits = 4\nblock_size = 16\nscale = \"e4m3-global\"\n\
             grids = [[{}]]\n",
            v.join(", ")
        )
    }

    #[test]
    fn the_recipes_own_grid_file_wins_over_a_same_named_file_in_grids() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("grids")).unwrap();
        std::fs::write(root.path().join("grids/mine.toml"), grid_toml("mine", 1.0)).unwrap();
        std::fs::write(root.path().join("learned.toml"), grid_toml("mine", 0.5)).unwrap();
        let text = include_str!("../../../../recipes/base.toml");
        let mut r: Recipe = toml::from_str(text).unwrap();
        r.compression.weight = Some("mine".into());
        let reg = recipe_registry(&r, root.path()).unwrap();
        let from_dir = reg.get("mine").unwrap();
        r.compression.weight_grid_file = Some("learned.toml".into());
        let reg = recipe_registry(&r, root.path()).unwrap();
        let explicit = reg.get("mine").unwrap();
        assert_ne!(from_dir, explicit);
        assert_eq!(
            explicit,
            lowbit_formats::GridFile::from_toml(&grid_toml("mine", 0.5), "t").unwrap()
        );
        // The model is built from exactly that file, by content.
        let carried = run_grids(&r, &reg);
        assert_eq!(carried.len(), 1);
        assert!(
            carried[0].source.ends_with("learned.toml"),
            "{}",
            carried[0].source
        );
        // A bad explicit file is blamed on its key.
        std::fs::write(root.path().join("learned.toml"), "name = 3").unwrap();
        let (key, _) = recipe_registry(&r, root.path()).unwrap_err();
        assert_eq!(key, "compression.weight_grid_file");
    }
}
