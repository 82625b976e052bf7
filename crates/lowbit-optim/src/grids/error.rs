//! Errors of grid learning. Every message says what was wrong and what to change.

use lowbit_formats::FormatError;
use lowbit_nn::NnError;
use thiserror::Error;

/// Errors returned by block collection, grid learning and capture.
#[derive(Debug, Error)]
pub enum GridLearnError {
    /// The learning configuration is inconsistent.
    #[error("grid learning config: {0}")]
    Config(String),
    /// Blocks handed to a [`BlockSet`](super::BlockSet) are malformed.
    #[error("grid learning blocks: {0}")]
    Blocks(String),
    /// Nothing is left to learn from (every block was empty or flushed to zero by its scale).
    #[error("grid learning: no usable blocks ({0})")]
    NoBlocks(String),
    /// The learned grids do not form a valid format (a bug, or a degenerate data set).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Running the model to capture blocks failed.
    #[error(transparent)]
    Nn(#[from] NnError),
}
