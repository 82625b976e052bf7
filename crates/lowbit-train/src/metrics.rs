//! Run metrics: `metrics.jsonl` (one JSON object per logged step — the source of truth for plots
//! and for the bit-identical-resume test), TensorBoard scalars under `tb/` (tensorboard-rs), and
//! one boring, greppable line per step (`step loss lr grad_norm tok/s`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use tensorboard_rs::summary_writer::SummaryWriter;

/// One logged step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Optimizer step (1-based: the number of updates applied).
    pub step: u64,
    /// Training tokens seen so far.
    pub tokens: u64,
    /// Training loss of the step (mean over micro-batches); JSON `null` when it was NaN/Inf
    /// (JSON has no NaN), read back as NaN.
    #[serde(deserialize_with = "nan_if_null")]
    pub loss: f64,
    /// Learning rate used for the step.
    pub lr: f64,
    /// Global gradient norm before clipping (`null` when non-finite, as `loss`).
    #[serde(deserialize_with = "nan_if_null")]
    pub grad_norm: f64,
    /// Throughput over the logging interval.
    pub tok_s: f64,
    /// Validation loss, on evaluation steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Validation perplexity exp(val_loss), on evaluation steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_ppl: Option<f64>,
    /// Further scalars (quantization health per layer, skipped steps, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl Record {
    /// The one-line console form.
    pub fn line(&self) -> String {
        let mut s = format!(
            "step {:>7} loss {:.4} lr {:.3e} grad_norm {:.3} tok/s {:.0}",
            self.step, self.loss, self.lr, self.grad_norm, self.tok_s
        );
        if let Some(v) = self.val_loss {
            s.push_str(&format!(
                " val_loss {v:.4} val_ppl {:.2}",
                self.val_ppl.unwrap_or(v.exp())
            ));
        }
        s
    }
}

/// Writes metrics of one run.
pub struct MetricsSink {
    jsonl: File,
    path: PathBuf,
    tb: SummaryWriter,
}

impl MetricsSink {
    /// Opens the sinks in `run_dir`. When resuming from `resume_step`, records after it (written
    /// by the interrupted run after its last checkpoint) are dropped so the file stays one
    /// consistent history. A fresh start (`None`) begins a new file: records left by an earlier
    /// attempt that died before its first checkpoint describe a run that no longer exists.
    pub fn open(run_dir: &Path, resume_step: Option<u64>) -> std::io::Result<Self> {
        std::fs::create_dir_all(run_dir)?;
        let path = run_dir.join("metrics.jsonl");
        if resume_step.is_none() && path.exists() {
            File::create(&path)?.sync_all()?;
        }
        if let Some(keep) = resume_step {
            if path.exists() {
                let kept: Vec<String> = BufReader::new(File::open(&path)?)
                    .lines()
                    .map_while(Result::ok)
                    .filter(|l| serde_json::from_str::<Record>(l).is_ok_and(|r| r.step <= keep))
                    .collect();
                let tmp = run_dir.join("metrics.jsonl.tmp");
                let mut f = File::create(&tmp)?;
                for l in kept {
                    writeln!(f, "{l}")?;
                }
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
            }
        }
        let jsonl = OpenOptions::new().create(true).append(true).open(&path)?;
        let tb = SummaryWriter::new(run_dir.join("tb"));
        Ok(Self { jsonl, path, tb })
    }

    /// Appends a record (flushed immediately) and its scalars to TensorBoard.
    pub fn write(&mut self, r: &Record) -> std::io::Result<()> {
        let line = serde_json::to_string(r).map_err(std::io::Error::other)?;
        writeln!(self.jsonl, "{line}")?;
        self.jsonl.flush()?;
        let step = r.step as usize;
        for (tag, v) in [
            ("loss", r.loss),
            ("lr", r.lr),
            ("grad_norm", r.grad_norm),
            ("tok_s", r.tok_s),
        ] {
            self.tb.add_scalar(tag, v as f32, step);
        }
        if let Some(v) = r.val_loss {
            self.tb.add_scalar("val_loss", v as f32, step);
        }
        for (k, v) in &r.extra {
            self.tb.add_scalar(k, *v as f32, step);
        }
        self.tb.flush();
        Ok(())
    }

    /// Path of `metrics.jsonl`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads every record of a `metrics.jsonl`.
pub fn read_metrics(path: &Path) -> std::io::Result<Vec<Record>> {
    BufReader::new(File::open(path)?)
        .lines()
        .map(|l| l.and_then(|l| serde_json::from_str(&l).map_err(std::io::Error::other)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: u64) -> Record {
        Record {
            step,
            tokens: step * 100,
            loss: 5.0 / step as f64,
            lr: 1e-3,
            grad_norm: 1.0,
            tok_s: 1e4,
            val_loss: None,
            val_ppl: None,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn resume_truncates_records_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MetricsSink::open(dir.path(), None).unwrap();
        for s in 1..=7 {
            m.write(&rec(s)).unwrap();
        }
        drop(m);
        let mut m = MetricsSink::open(dir.path(), Some(5)).unwrap();
        m.write(&rec(6)).unwrap();
        let steps: Vec<u64> = read_metrics(m.path())
            .unwrap()
            .iter()
            .map(|r| r.step)
            .collect();
        assert_eq!(steps, vec![1, 2, 3, 4, 5, 6]);
        let tb: Vec<_> = std::fs::read_dir(dir.path().join("tb")).unwrap().collect();
        assert!(!tb.is_empty(), "TensorBoard event files written");
        assert!(
            rec(3)
                .line()
                .starts_with("step       3 loss 1.6667 lr 1.000e-3")
        );
    }

    #[test]
    fn fresh_start_replaces_records_of_an_attempt_without_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MetricsSink::open(dir.path(), None).unwrap();
        for s in 1..=3 {
            m.write(&rec(s)).unwrap();
        }
        drop(m);
        let mut m = MetricsSink::open(dir.path(), None).unwrap();
        m.write(&rec(1)).unwrap();
        let steps: Vec<u64> = read_metrics(m.path())
            .unwrap()
            .iter()
            .map(|r| r.step)
            .collect();
        assert_eq!(steps, vec![1]);
    }
}
