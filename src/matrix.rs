//! Matrix products on flat f32 buffers by `gemm` (the kernel candle's CPU backend runs), on the
//! calling thread, with strides, so no transpose is ever copied: the products of SAC's fused path
//! ([`crate::sac::dense`]) and of soft Q-learning's fused layers ([`crate::sql::ops`]).

/// A row-major matrix, or the transpose of one (a view, no copy).
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    /// Row and column strides of the logical matrix in `data`.
    rs: isize,
    cs: isize,
}

impl<'a> Mat<'a> {
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols);
        Mat {
            data,
            rows,
            cols,
            rs: cols as isize,
            cs: 1,
        }
    }

    /// The transpose.
    pub fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// `dst (m×n, row-major) = [dst +] lhs (m×k) · rhs (k×n)`, on the calling thread.
pub fn matmul(dst: &mut [f32], lhs: Mat, rhs: Mat, accumulate: bool) {
    matmul_on(dst, lhs, rhs, accumulate, 1);
}

/// [`matmul`] split over up to `threads` threads of the current rayon pool where gemm finds the
/// product large enough. gemm splits the output's rows and columns, never the inner sum, so every
/// element is the same sum in the same order: the same bits on one thread or several.
pub fn matmul_on(dst: &mut [f32], lhs: Mat, rhs: Mat, accumulate: bool, threads: usize) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions");
    assert!(dst.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the asserts above and in `Mat::new` keep every index gemm forms inside the
    // slices: the largest is (m−1)·rs + (k−1)·cs for lhs (≤ its len − 1 by construction), and
    // likewise for rhs and dst; dst does not alias lhs or rhs (it is a unique borrow).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs,
            lhs.rs,
            rhs.data.as_ptr(),
            rhs.cs,
            rhs.rs,
            1.0,
            1.0,
            false,
            false,
            false,
            match threads {
                0 | 1 => gemm::Parallelism::None,
                t => gemm::Parallelism::Rayon(t),
            },
        );
    }
}
