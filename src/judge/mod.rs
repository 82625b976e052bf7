//! `lowbit judge task|mine|features|train|eval`: the AutoJudge pipeline (Garipov et al.,
//! NeurIPS 2025; spec §6), the algorithms in the `lowbit-judge` crate.

mod eval;
mod features;
mod mine;
mod models;
mod report;
mod task;
mod train;

use anyhow::Result;
use clap::{Args, Subcommand};

/// Arguments of `lowbit judge`.
#[derive(Args)]
pub struct JudgeArgs {
    #[command(subcommand)]
    cmd: JudgeCmd,
}

#[derive(Subcommand)]
enum JudgeCmd {
    /// Write seeded arithmetic word problems as GSM8K-style jsonl (and optionally a training
    /// corpus of their worked solutions).
    Task(task::TaskArgs),
    /// Label draft/target mismatches important or not by the semi-greedy search.
    Mine(mine::MineArgs),
    /// Both models' hidden states at the mined mismatches, into a feature file.
    Features(features::FeaturesArgs),
    /// Fit the judge head (standardisation + L2 logistic regression).
    Train(train::TrainArgs),
    /// Target-only, exact speculative, AutoJudge and top-K decoding side by side.
    Eval(eval::EvalArgs),
}

/// Runs `lowbit judge`.
pub fn run(a: JudgeArgs) -> Result<()> {
    match a.cmd {
        JudgeCmd::Task(t) => task::run(t),
        JudgeCmd::Mine(m) => mine::run(m),
        JudgeCmd::Features(f) => features::run(f),
        JudgeCmd::Train(t) => train::run(t),
        JudgeCmd::Eval(e) => eval::run(e),
    }
}
