//! lowbit-optim: optimizers over compressed representations.
//!
//! * [`grids`] — Lloyd-style learning of multi-grid formats (MPO2, the PO2(NF4) partner).

pub mod grids;
