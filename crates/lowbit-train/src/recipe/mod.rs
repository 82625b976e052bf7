//! Recipes: `recipes/<name>.toml`, typed, documented, unknown keys rejected.

mod load;
mod model;
mod schema;
mod validate;

pub use load::{RecipeError, load_recipe, parse_recipe_str};
pub use model::{ModelDims, PRESETS, resolve as resolve_model};
pub use schema::*;
