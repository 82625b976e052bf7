//! Recipes: `recipes/<name>.toml`, typed, documented, unknown keys rejected.

mod diff;
mod load;
mod model;
mod schema;
mod validate;

pub use diff::{RESUME_MAY_CHANGE, changed_keys, resume_changes};
pub use load::{RecipeError, load_recipe, parse_recipe_str};
pub use model::{ModelDims, PRESETS, resolve as resolve_model};
pub use schema::*;
