//! Scalar element types: FP4 E2M1, FP8 E4M3, the E8M0 exponent scale and NF4.
//!
//! Each cast has a `*_reference` twin that enumerates the representable values and picks the
//! nearest one (ties as the format demands); the fast cast is tested against it on every tie.

pub mod e2m1;
pub mod e4m3;
pub mod e8m0;
pub mod nf4;
