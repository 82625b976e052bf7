//! Which linears are compressed, decided by HF-style module name (torchtitan's "policy over
//! module names" rather than editing the model).

use crate::quant::estimator::Estimator;
use crate::{CompressedLinearConfig, LinearFormats, NnError};
use burn::config::Config;
use lowbit_formats::{Format, GridRegistry, GridText};
use std::path::Path;

/// Formats applied to the linears whose names match `include` and not `exclude`.
#[derive(Config, Debug, PartialEq)]
pub struct CompressionPolicy {
    /// Weight format name (`None` = full precision).
    #[config(default = "None")]
    pub weight: Option<String>,
    /// Input-activation format name (`None` = full precision).
    #[config(default = "None")]
    pub input: Option<String>,
    /// Half Hadamard rotation of compressed linears.
    #[config(default = false)]
    pub hadamard: bool,
    /// Gradient estimator of compressed linears.
    #[config(default = "Estimator::Ste")]
    pub estimator: Estimator,
    /// Grid files by content whose grids become format names (e.g. a learned `mpo2`): every
    /// grid file the formats resolve through, carried in the checkpoint's `config.json` so the
    /// model never depends on files beside it. Looked up before `grid_files`.
    #[config(default = "Vec::new()")]
    pub grids: Vec<GridText>,
    /// Grid files by path (relative to the working directory): what checkpoints written before
    /// `grids` record; read when the model is built, as they were then.
    #[config(default = "Vec::new()")]
    pub grid_files: Vec<String>,
    /// Globs of module names to compress; default: every projection inside the blocks.
    #[config(
        default = "vec![\"model.layers.*.self_attn.*_proj\".into(), \"model.layers.*.mlp.*_proj\".into()]"
    )]
    pub include: Vec<String>,
    /// Globs excluded from `include`.
    #[config(default = "Vec::new()")]
    pub exclude: Vec<String>,
}

/// Compiles module-name globs; the error names the policy key (`include` / `exclude`).
///
/// # Errors
/// [`NnError::Policy`] for a malformed glob.
pub fn compile_globs(key: &'static str, globs: &[String]) -> Result<Vec<glob::Pattern>, NnError> {
    globs
        .iter()
        .map(|g| {
            glob::Pattern::new(g).map_err(|e| NnError::Policy {
                key,
                message: format!("bad glob `{g}`: {e} (use * and ? wildcards)"),
            })
        })
        .collect()
}

/// A [`CompressionPolicy`] with its formats parsed (once, through one registry) and its globs
/// compiled: what building a model needs, so that no layer parses a format name.
#[derive(Debug, Clone)]
pub struct ResolvedPolicy {
    /// The weight and input formats of every selected linear.
    pub formats: LinearFormats,
    /// Half Hadamard rotation of selected linears.
    pub hadamard: bool,
    /// Gradient estimator of selected linears.
    pub estimator: Estimator,
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
}

impl ResolvedPolicy {
    /// Whether linear `name` is compressed (matches `include` and not `exclude`).
    pub fn selects(&self, name: &str) -> bool {
        self.include.iter().any(|p| p.matches(name))
            && !self.exclude.iter().any(|p| p.matches(name))
    }

    /// The layer config and resolved formats of linear `name`.
    pub fn linear(
        &self,
        name: &str,
        d_input: usize,
        d_output: usize,
        std: f64,
    ) -> (CompressedLinearConfig, LinearFormats) {
        let base = CompressedLinearConfig::new(d_input, d_output)
            .with_init_std(std)
            .with_name(name.to_string());
        if self.selects(name) {
            let c = base
                .with_hadamard(self.hadamard)
                .with_estimator(self.estimator);
            (c, self.formats.clone())
        } else {
            (base, LinearFormats::default())
        }
    }
}

impl CompressionPolicy {
    /// The one registry the policy's formats resolve through: the built-ins, the grid files it
    /// carries by content, then (checkpoints written before grids were carried) its
    /// `grid_files` paths, read here once.
    ///
    /// # Errors
    /// [`NnError::Format`] for an invalid carried grid or an unreadable `grid_files` entry.
    pub fn registry(&self) -> Result<GridRegistry, NnError> {
        let mut reg = GridRegistry::builtin();
        for g in &self.grids {
            reg = reg.with_text(g.clone())?;
        }
        for f in &self.grid_files {
            reg = reg.with_file(Path::new(f))?;
        }
        Ok(reg)
    }

    /// Parses the formats through `reg` and compiles the globs.
    ///
    /// # Errors
    /// [`NnError::Policy`] naming the key (`weight`, `input`, `include`, `exclude`).
    pub fn resolve(&self, reg: &GridRegistry) -> Result<ResolvedPolicy, NnError> {
        let parse = |key: &'static str, name: &Option<String>| -> Result<Option<Format>, NnError> {
            name.as_deref()
                .map(|n| {
                    Format::parse_with(n, reg).map_err(|e| NnError::Policy {
                        key,
                        message: format!("{e} (`lowbit formats list` shows valid names)"),
                    })
                })
                .transpose()
        };
        Ok(ResolvedPolicy {
            formats: LinearFormats {
                weight: parse("weight", &self.weight)?,
                input: parse("input", &self.input)?,
            },
            hadamard: self.hadamard,
            estimator: self.estimator,
            include: compile_globs("include", &self.include)?,
            exclude: compile_globs("exclude", &self.exclude)?,
        })
    }

    /// Whether `name` is compressed.
    ///
    /// # Errors
    /// [`NnError::Policy`] for a malformed glob.
    pub fn selects(&self, name: &str) -> Result<bool, NnError> {
        let inc = compile_globs("include", &self.include)?;
        let exc = compile_globs("exclude", &self.exclude)?;
        Ok(inc.iter().any(|p| p.matches(name)) && !exc.iter().any(|p| p.matches(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_registry_resolves_carried_grids_and_errors_name_the_key() {
        let text = GridText {
            source: "grids/mpo2.toml".into(),
            toml: include_str!("../../../../grids/mpo2.toml").into(),
        };
        let p = CompressionPolicy::new()
            .with_weight(Some("mpo2".into()))
            .with_input(Some("nvfp4".into()))
            .with_grids(vec![text])
            .with_exclude(vec!["*.down_proj".into()]);
        let r = p.resolve(&p.registry().unwrap()).unwrap();
        assert_eq!(r.formats.weight.as_ref().unwrap().name(), "mpo2");
        assert!(r.selects("model.layers.0.mlp.up_proj"));
        assert!(!r.selects("model.layers.0.mlp.down_proj"));
        let (c, f) = r.linear("model.layers.3.self_attn.q_proj", 64, 64, 0.02);
        assert_eq!(f, r.formats);
        assert_eq!(c.name, "model.layers.3.self_attn.q_proj");
        let (_, f) = r.linear("model.layers.3.mlp.down_proj", 64, 64, 0.02);
        assert_eq!(f, LinearFormats::default());
        // Without the carried file, `mpo2` is not a name the built-ins know.
        let bare = CompressionPolicy::new().with_weight(Some("mpo2".into()));
        let e = bare.resolve(&bare.registry().unwrap()).unwrap_err();
        assert!(matches!(e, NnError::Policy { key: "weight", .. }), "{e}");
        let bad = CompressionPolicy::new().with_include(vec!["[".into()]);
        let e = bad.resolve(&bad.registry().unwrap()).unwrap_err();
        assert!(matches!(e, NnError::Policy { key: "include", .. }), "{e}");
    }
}
