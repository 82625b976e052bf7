//! The judge head (AutoJudge §3.2; official `src/train_head_gsm8k.py`, spec §6.3): scikit-learn's
//! `StandardScaler` then `LogisticRegression(C)` (L2, lbfgs, no class weights, intercept not
//! penalised), C chosen on a prompt-level validation split by ROC-AUC, and a threshold table at
//! the validation quantiles of P(important).

mod auc;
mod fit;
mod io;
mod logreg;
mod scaler;

pub use auc::{quantile, roc_auc};
pub use fit::{
    HeadConfig, JudgeHead, ThresholdRow, official_c_grid, split_prompts, train_head,
    train_head_split,
};
pub use logreg::{LogReg, fit_logreg};
pub use scaler::Scaler;
