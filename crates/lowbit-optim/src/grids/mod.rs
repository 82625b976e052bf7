//! Grid learning (see `../shared/specs/grids-and-capacity.md`, "Grid learning").
