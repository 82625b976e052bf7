//! f64 matrix products for the O(n³) parts of GPTQ (the lazy-block flush, the blocked Cholesky
//! and triangular inverse, H⁻¹ = M·Mᵀ, the Hessian's xᵀx and the output error), on the `gemm`
//! crate's packed micro-kernels.
//!
//! Determinism: a product is cut into fixed blocks of [`ROWS`] output rows; each block is one
//! sequential `gemm` call on its own disjoint rows of C, and rayon only decides which thread
//! runs which block. The arithmetic of every output element is therefore the same whatever the
//! number of threads (tested bit for bit with 1- and 2-thread pools in `dense_tests.rs`).
//!
//! All operands are f64 holding f32 values exactly (or f64 sums), so replacing the old scalar
//! f64 loops by these products only reassociates f64 sums: every result is still a sum of the
//! same f64 products, rounded to f32 once where the old code rounded it.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

/// Output rows per sequential block: the unit of parallel work, fixed so results do not depend
/// on the thread count.
pub(crate) const ROWS: usize = 128;

/// A read-only strided f64 matrix: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    data: &'a [f64],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    /// The view of `data` (element (i, j) at `i·rs + j·cs`). Panics if an element would lie
    /// outside `data` — an internal shape bug, never user input (callers validate shapes).
    pub(crate) fn new(data: &'a [f64], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        if rows > 0 && cols > 0 {
            assert!(
                (rows - 1) * rs + (cols - 1) * cs < data.len(),
                "view out of bounds"
            );
        }
        Self {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// The row-major `[rows, cols]` matrix `data` with row stride `ld`, from (r0, c0).
    pub(crate) fn row_major(data: &'a [f64], ld: usize, (r0, c0): (usize, usize)) -> RowMajor<'a> {
        RowMajor { data, ld, r0, c0 }
    }
}

/// A row-major matrix with row stride `ld` seen from (r0, c0), to cut views out of.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowMajor<'a> {
    data: &'a [f64],
    ld: usize,
    r0: usize,
    c0: usize,
}

impl<'a> RowMajor<'a> {
    /// Rows r0..r0+rows, columns c0..c0+cols.
    pub(crate) fn block(self, rows: usize, cols: usize) -> View<'a> {
        let off = self.r0 * self.ld + self.c0;
        let data = if rows == 0 || cols == 0 {
            &self.data[..0]
        } else {
            &self.data[off..]
        };
        View::new(data, rows, cols, self.ld, 1)
    }

    /// The transpose of rows r0..r0+cols, columns c0..c0+rows (a `[rows, cols]` view).
    pub(crate) fn block_t(self, rows: usize, cols: usize) -> View<'a> {
        let off = self.r0 * self.ld + self.c0;
        let data = if rows == 0 || cols == 0 {
            &self.data[..0]
        } else {
            &self.data[off..]
        };
        View::new(data, rows, cols, 1, self.ld)
    }
}

/// C ← C + alpha·A·B (`accumulate`) or C ← alpha·A·B, sequentially; C is `[A.rows, B.cols]`
/// row-major with row stride `ldc` at the start of `c`.
pub(crate) fn gemm_seq(c: &mut [f64], ldc: usize, a: View, b: View, alpha: f64, accumulate: bool) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(n <= ldc && (m - 1) * ldc + n <= c.len(), "C out of bounds");
    if k == 0 {
        if !accumulate {
            c.chunks_mut(ldc).take(m).for_each(|row| row[..n].fill(0.0));
        }
        return;
    }
    // SAFETY: the asserts above and in `View::new` keep every element of A (m×k), B (k×n) and
    // C (m×n, stride ldc) inside its slice; C is exclusively borrowed and A, B are shared
    // borrows, so C cannot alias them.
    unsafe {
        gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            alpha,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// Runs `f(r0, r1, c_block)` on the blocks of [`ROWS`] rows of the `m` rows of `c` (row stride
/// `ldc`; `c_block` starts at row r0), in parallel. Each block is handed to one thread whole.
pub(crate) fn par_row_blocks<F>(c: &mut [f64], ldc: usize, m: usize, f: F)
where
    F: Fn(usize, usize, &mut [f64]) + Sync + Send,
{
    if m == 0 || ldc == 0 {
        return;
    }
    let len = c.len().min(m * ldc);
    c[..len]
        .par_chunks_mut(ROWS * ldc)
        .enumerate()
        .for_each(|(b, blk)| {
            let r0 = b * ROWS;
            f(r0, (r0 + ROWS).min(m), blk)
        });
}
