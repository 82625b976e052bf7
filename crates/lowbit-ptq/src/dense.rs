//! Matrix products on the `gemm` crate's packed micro-kernels, in f64 or f32 ([`Elem`]): the
//! O(n³) parts of GPTQ (the lazy-block flush, the blocked Cholesky and triangular inverse,
//! H⁻¹ = M·Mᵀ, the Hessian's xᵀx and the output error, all f64) and AQLM's products (the Adam
//! step's ΔW·XᵀX in f64 or f32 and the objective's, through [`matmul_into`]).
//!
//! Determinism: a product is cut into fixed blocks of [`ROWS`] output rows; each block is one
//! sequential `gemm` call on its own disjoint rows of C, and rayon only decides which thread
//! runs which block. The arithmetic of every output element is therefore the same whatever the
//! number of threads (tested bit for bit with 1- and 2-thread pools in `dense_tests.rs`). The
//! kernel is chosen by CPU at run time (on x86: AVX-512 or AVX2/FMA), so bits may differ
//! between CPU models.
//!
//! GPTQ's operands are f64 holding f32 values exactly (or f64 sums), so replacing its old
//! scalar f64 loops by these products only reassociates f64 sums: every result is still a sum
//! of the same f64 products, rounded to f32 once where the old code rounded it.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

/// An element type of the products: f32 or f64, the two real types the `gemm` crate has
/// kernels for (it dispatches on the type at run time and panics on any other). Implemented
/// for those two only.
pub(crate) trait Elem: Copy + Send + Sync + 'static {
    /// 0
    const ZERO: Self;
    /// 1
    const ONE: Self;
}

impl Elem for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl Elem for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// Output rows per sequential block: the unit of parallel work, fixed so results do not depend
/// on the thread count.
pub(crate) const ROWS: usize = 128;

/// A read-only strided matrix: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a, T: Elem> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T: Elem> View<'a, T> {
    /// The view of `data` (element (i, j) at `i·rs + j·cs`). Panics if an element would lie
    /// outside `data` — an internal shape bug, never user input (callers validate shapes).
    pub(crate) fn new(data: &'a [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
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
    pub(crate) fn row_major(data: &'a [T], ld: usize, (r0, c0): (usize, usize)) -> RowMajor<'a, T> {
        RowMajor { data, ld, r0, c0 }
    }
}

/// A row-major matrix with row stride `ld` seen from (r0, c0), to cut views out of.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowMajor<'a, T: Elem> {
    data: &'a [T],
    ld: usize,
    r0: usize,
    c0: usize,
}

impl<'a, T: Elem> RowMajor<'a, T> {
    /// Rows r0..r0+rows, columns c0..c0+cols.
    pub(crate) fn block(self, rows: usize, cols: usize) -> View<'a, T> {
        let off = self.r0 * self.ld + self.c0;
        let data = if rows == 0 || cols == 0 {
            &self.data[..0]
        } else {
            &self.data[off..]
        };
        View::new(data, rows, cols, self.ld, 1)
    }

    /// The transpose of rows r0..r0+cols, columns c0..c0+rows (a `[rows, cols]` view).
    pub(crate) fn block_t(self, rows: usize, cols: usize) -> View<'a, T> {
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
pub(crate) fn gemm_seq<T: Elem>(
    c: &mut [T],
    ldc: usize,
    a: View<T>,
    b: View<T>,
    alpha: T,
    accumulate: bool,
) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(n <= ldc && (m - 1) * ldc + n <= c.len(), "C out of bounds");
    if k == 0 {
        if !accumulate {
            c.chunks_mut(ldc)
                .take(m)
                .for_each(|row| row[..n].fill(T::ZERO));
        }
        return;
    }
    // SAFETY: the asserts above and in `View::new` keep every element of A (m×k), B (k×n) and
    // C (m×n, stride ldc) inside its slice; C is exclusively borrowed and A, B are shared
    // borrows, so C cannot alias them. T is f32 or f64 (the only `Elem` impls), so `gemm`
    // runs its kernels for T and reads and writes T values only.
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
            T::ONE,
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
pub(crate) fn par_row_blocks<T: Elem, F>(c: &mut [T], ldc: usize, m: usize, f: F)
where
    F: Fn(usize, usize, &mut [T]) + Sync + Send,
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

/// `c [m, n] = a [m, k] · b [k, n]`, all row-major (m = a.len() / k; k > 0): one sequential
/// product per block of [`ROWS`] rows of C, blocks in parallel, so the bits do not depend on
/// the thread count.
pub(crate) fn matmul_into<T: Elem>(a: &[T], k: usize, b: &[T], n: usize, c: &mut [T]) {
    assert!(k > 0 && a.len() % k == 0, "A is not [m, k]");
    let m = a.len() / k;
    assert!(
        b.len() == k * n && c.len() == m * n,
        "B or C has the wrong shape"
    );
    par_row_blocks(c, n, m, |r0, r1, blk| {
        let av = View::row_major(a, k, (r0, 0)).block(r1 - r0, k);
        let bv = View::row_major(b, n, (0, 0)).block(k, n);
        gemm_seq(blk, n, av, bv, T::ONE, false);
    });
}
