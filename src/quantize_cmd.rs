//! `lowbit quantize`: round-to-nearest quantization of a safetensors checkpoint along the last
//! dimension, written with compressed-tensors names (`*_packed`, `*_scale`, `*_global_scale`)
//! or, with `--dequantize`, as f32 fake-quantized values under the original names.
//!
//! Memory: the input is memory-mapped and each output tensor is computed lazily when the writer
//! asks for its bytes, so peak memory is the mapping plus about one tensor's working set.
//! Atomicity: output goes to a temporary file in the target directory, renamed on success and
//! removed on any error, so no partial output is ever left behind.

use anyhow::{Context, Result, bail};
use clap::Args;
use lowbit_formats::scale::GlobalScale;
use lowbit_formats::{Format, GridRegistry, ScaleDtype};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView, View};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Arguments of `lowbit quantize`.
#[derive(Args)]
pub struct QuantizeArgs {
    /// Format name, e.g. `nvfp4`, `mxfp4`, `int4:block=32,asym` (see `lowbit formats list`).
    #[arg(long)]
    format: String,
    /// Input safetensors file.
    #[arg(long)]
    input: PathBuf,
    /// Output safetensors file (written atomically).
    #[arg(long)]
    output: PathBuf,
    /// Write f32 fake-quantized values under the original names instead of packed codes.
    #[arg(long)]
    dequantize: bool,
    /// Quantize only tensors whose name matches one of these globs (default: every 2-D
    /// f32/f16/bf16 tensor whose last dimension is a multiple of the block size).
    #[arg(long = "include")]
    include: Vec<String>,
    /// Directory of extra grid files.
    #[arg(long, default_value = "grids")]
    grids_dir: PathBuf,
}

/// Which output a lazily computed tensor is.
#[derive(Clone, Copy)]
enum Part {
    Copy,
    Dequant,
    Packed,
    Scale,
    Extra,
    GlobalScale,
}

/// One output tensor: its header facts up front, its bytes computed on demand.
struct Out<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    len: usize,
    src: TensorView<'a>,
    part: Part,
    format: &'a Format,
    error: &'a Mutex<Option<String>>,
    name: String,
}

fn to_f32(t: &TensorView<'_>) -> Vec<f32> {
    let d = t.data();
    match t.dtype() {
        Dtype::F32 => d
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => d
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => d
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => Vec::new(),
    }
}

impl Out<'_> {
    fn compute(&self) -> Result<Vec<u8>> {
        if let Part::Copy = self.part {
            return Ok(self.src.data().to_vec());
        }
        let x = to_f32(&self.src);
        let cols = *self.src.shape().last().unwrap_or(&1);
        if let Part::Dequant = self.part {
            let mut y = x;
            self.format.fake_quant(&mut y, cols)?;
            return Ok(y.iter().flat_map(|v| v.to_le_bytes()).collect());
        }
        if let Part::GlobalScale = self.part {
            // compressed-tensors stores the *encode* factor 448·6/amax (TE's enc_g).
            let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            return Ok(GlobalScale::from_amax(amax).enc.to_le_bytes().to_vec());
        }
        let e = self.format.encode(&x, cols)?;
        let layout = self.format.scale_layout().context("format has no scales")?;
        Ok(match self.part {
            Part::Packed => e.codes,
            Part::Scale => e
                .scales
                .chunks(layout.stride())
                .flat_map(|b| b[..layout.scale_bytes].to_vec())
                .collect(),
            Part::Extra => e
                .scales
                .chunks(layout.stride())
                .map(|b| b[layout.scale_bytes])
                .collect(),
            _ => unreachable!("handled above"),
        })
    }
}

impl View for Out<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        match self.compute() {
            Ok(v) if v.len() == self.len => Cow::Owned(v),
            Ok(v) => {
                self.fail(format!(
                    "{}: produced {} bytes, expected {}",
                    self.name,
                    v.len(),
                    self.len
                ));
                Cow::Owned(vec![0; self.len])
            }
            Err(e) => {
                self.fail(format!("{}: {e:#}", self.name));
                Cow::Owned(vec![0; self.len])
            }
        }
    }
    fn data_len(&self) -> usize {
        self.len
    }
}

impl Out<'_> {
    fn fail(&self, msg: String) {
        if let Ok(mut g) = self.error.lock() {
            g.get_or_insert(msg);
        }
    }
}

fn glob_match(patterns: &[glob::Pattern], name: &str) -> bool {
    patterns.iter().any(|p| p.matches(name))
}

/// Runs `lowbit quantize`.
pub fn run(a: QuantizeArgs) -> Result<()> {
    let reg = GridRegistry::builtin().with_dir(&a.grids_dir)?;
    let format = Format::parse_with(&a.format, &reg)?;
    let block = format.block_size();
    let patterns: Vec<glob::Pattern> = a
        .include
        .iter()
        .map(|g| {
            glob::Pattern::new(g).with_context(|| format!("--include `{g}` is not a valid glob"))
        })
        .collect::<Result<_>>()?;
    if !a.dequantize && format.scale_layout().is_none() {
        bail!(
            "format `{}` is pure sparsity and has no packed form: use --dequantize",
            format.name()
        );
    }
    let file = std::fs::File::open(&a.input)
        .with_context(|| format!("cannot open input {}", a.input.display()))?;
    // SAFETY: the mapping is read-only and the file is not modified while mapped by us.
    let mmap = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("cannot map {}", a.input.display()))?;
    let st = SafeTensors::deserialize(&mmap).map_err(|e| {
        anyhow::anyhow!("{} is not a valid safetensors file: {e}", a.input.display())
    })?;
    let error = Mutex::new(None);
    let mut outs: Vec<(String, Out)> = Vec::new();
    let mut n_quantized = 0;
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    for name in names {
        let t = st.tensor(&name)?;
        let float = matches!(t.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16);
        let two_d = t.shape().len() == 2;
        let explicit = !patterns.is_empty();
        let selected = if explicit {
            glob_match(&patterns, &name)
        } else {
            float && two_d && t.shape()[1] % block == 0
        };
        let mk = |n: String, dtype, shape: Vec<usize>, len, part| {
            (
                n.clone(),
                Out {
                    dtype,
                    shape,
                    len,
                    src: t.clone(),
                    part,
                    format: &format,
                    error: &error,
                    name: n,
                },
            )
        };
        if !selected {
            outs.push(mk(
                name.clone(),
                t.dtype(),
                t.shape().to_vec(),
                t.data_len(),
                Part::Copy,
            ));
            continue;
        }
        if !float || !two_d {
            bail!(
                "tensor `{name}` matches --include but is {:?} with shape {:?}: only 2-D F32/F16/BF16 tensors can be quantized",
                t.dtype(),
                t.shape()
            );
        }
        let (rows, cols) = (t.shape()[0], t.shape()[1]);
        if cols % block != 0 {
            bail!(
                "tensor `{name}` has last dimension {cols}, not a multiple of block {block} of `{}`: pick another block (e.g. `{}:block=N`) or exclude it",
                format.name(),
                a.format.split(':').next().unwrap_or(&a.format)
            );
        }
        // Finite check up front: an error inside the lazy writer would come too late to report
        // cleanly.
        if let Some(i) = to_f32(&t).iter().position(|v| !v.is_finite()) {
            bail!(
                "tensor `{name}` has a non-finite value at flat index {i}: clean the checkpoint first"
            );
        }
        n_quantized += 1;
        if a.dequantize {
            outs.push(mk(
                name.clone(),
                Dtype::F32,
                vec![rows, cols],
                rows * cols * 4,
                Part::Dequant,
            ));
            continue;
        }
        let bits = format.code_bits().unwrap_or(4);
        let layout = format.scale_layout().context("format has no scales")?;
        let (pdt, pcols) = if bits <= 4 {
            (Dtype::U8, cols.div_ceil(2))
        } else {
            (Dtype::U8, cols)
        };
        outs.push(mk(
            format!("{name}_packed"),
            pdt,
            vec![rows, pcols],
            rows * pcols,
            Part::Packed,
        ));
        let nb = cols / block;
        let (sdt, sbytes) = match layout.dtype {
            ScaleDtype::E4m3 => (Dtype::F8_E4M3, 1),
            ScaleDtype::E8m0 => (Dtype::U8, 1),
            ScaleDtype::F32 => (Dtype::F32, 4),
        };
        outs.push(mk(
            format!("{name}_scale"),
            sdt,
            vec![rows, nb],
            rows * nb * sbytes,
            Part::Scale,
        ));
        if let Some(extra) = layout.extra {
            outs.push(mk(
                format!("{name}_{extra}"),
                Dtype::U8,
                vec![rows, nb],
                rows * nb,
                Part::Extra,
            ));
        }
        if layout.dtype == ScaleDtype::E4m3 {
            outs.push(mk(
                format!("{name}_global_scale"),
                Dtype::F32,
                vec![1],
                4,
                Part::GlobalScale,
            ));
        }
    }
    if n_quantized == 0 {
        eprintln!("warning: no tensor matched; the output is a copy of the input");
    }
    let tmp = temp_path(&a.output);
    let result = safetensors::serialize_to_file(outs, None, &tmp)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", a.output.display()));
    let lazy_error = error.lock().ok().and_then(|mut g| g.take());
    if let Err(e) = result.and_then(|_| match lazy_error {
        Some(msg) => bail!("{msg}"),
        None => Ok(()),
    }) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &a.output).with_context(|| {
        format!(
            "cannot move the output into place at {}",
            a.output.display()
        )
    })?;
    eprintln!(
        "quantized {n_quantized} tensors to {} → {} (peak RSS {} MiB)",
        format.name(),
        a.output.display(),
        peak_rss_mib().map_or("?".into(), |m| m.to_string())
    );
    Ok(())
}

fn temp_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Peak resident set size (Linux `VmHWM`), for the memory claim in the docs.
fn peak_rss_mib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}
