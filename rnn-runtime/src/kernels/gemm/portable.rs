//! The portable register-blocked kernel: `f64` everywhere, and `f32` on CPUs without AVX2
//! (the blocked f32 GEMM of [`super::blocked`] runs elsewhere). `MR x NR` accumulators with
//! the `k` loop innermost over a weight panel packed once ([`super::pack_into`]), compiled for
//! AVX-512 and AVX2 + FMA and chosen at run time; general products go to `ndarray`'s GEMM
//! (matrixmultiply). Threads split the output rows.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::{PackedProduct, NR};
use crate::kernels::float::Float;

/// Rows of the register block for a split between threads (the largest block of any kernel).
const MR: usize = 6;
/// Below this many multiply-adds a product is not split between threads.
const PARALLEL_MIN_WORK: usize = 1 << 21;

/// `c = a @ W + beta * c` for `a: [m, k]` (row-major), `W: [k, n]` packed by `pack_into`,
/// `c: [m, n]` (row-major).
pub fn packed<F: Float>(product: &PackedProduct<'_, F>, c: &mut [F]) {
    let PackedProduct { a, m, k, n, .. } = *product;
    if m == 0 || n == 0 {
        return;
    }
    let c = &mut c[..m * n];
    let a = &a[..m * k];
    let threads = crate::kernels::threads::num_threads().min(m.div_ceil(MR));
    if threads > 1 && m * n * k >= PARALLEL_MIN_WORK {
        // Rows in blocks of whole register blocks, split recursively on the worker pool.
        let rows = m.div_ceil(threads).div_ceil(MR) * MR;
        split_rows(a, k, c, n, rows, &|a_part, c_part| {
            let m = a_part.len() / k.max(1);
            dispatch(
                &PackedProduct {
                    a: a_part,
                    m,
                    ..*product
                },
                c_part,
            )
        });
    } else {
        dispatch(&PackedProduct { a, ..*product }, c);
    }
}

/// Runs `f` on consecutive row ranges of at most `rows` rows of `a: [m, k]` and `c: [m, n]`,
/// in parallel on the runtime's helper threads (`threads::join`, no allocation).
fn split_rows<F: Float>(
    a: &[F],
    k: usize,
    c: &mut [F],
    n: usize,
    rows: usize,
    f: &(dyn Fn(&[F], &mut [F]) + Sync),
) {
    let m = c.len() / n.max(1);
    if m <= rows {
        f(a, c);
        return;
    }
    let half = m.div_ceil(2).div_ceil(rows) * rows;
    let (a0, a1) = a.split_at(half.min(m) * k);
    let (c0, c1) = c.split_at_mut(half.min(m) * n);
    crate::kernels::threads::join(
        || split_rows(a0, k, c0, n, rows, f),
        || split_rows(a1, k, c1, n, rows, f),
    );
}

fn dispatch<F: Float>(product: &PackedProduct<'_, F>, c: &mut [F]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { kernel_avx512(product, c) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            return unsafe { kernel_avx2(product, c) };
        }
    }
    kernel::<F, 4, false>(product, c)
}

/// A copy of [`kernel`] compiled for an instruction set, with `MB` rows of `A` per register
/// block.
macro_rules! kernel_for {
    ($(#[$doc:meta])* $name:ident, $features:literal, $mb:literal) => {
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        unsafe fn $name<F: Float>(product: &PackedProduct<'_, F>, c: &mut [F]) {
            kernel::<F, $mb, true>(product, c)
        }
    };
}

kernel_for!(
    /// 6 x 32 f32 accumulators: 12 of the 32 zmm registers.
    kernel_avx512,
    "avx512f,avx2,fma",
    6
);
kernel_for!(
    /// 3 x 32 f32 accumulators: 12 of the 16 ymm registers.
    kernel_avx2,
    "avx2,fma",
    3
);

#[inline(always)]
fn kernel<F: Float, const MB: usize, const FMA: bool>(product: &PackedProduct<'_, F>, c: &mut [F]) {
    let PackedProduct {
        a,
        m,
        k,
        w: packed,
        n,
        beta,
    } = *product;
    let panels = n.div_ceil(NR);
    let panel = |p: usize| &packed[p * k * NR..(p + 1) * k * NR];
    let mut r0 = 0;
    while r0 + MB <= m {
        for p in 0..panels {
            block::<F, MB, FMA>(a, r0, k, panel(p), n, p, c, beta);
        }
        r0 += MB;
    }
    // The remaining rows in blocks of 4, 2 and 1: a one-row block keeps too few independent
    // accumulators to hide the multiply-add latency.
    while r0 + 4 <= m && MB > 4 {
        for p in 0..panels {
            block::<F, 4, FMA>(a, r0, k, panel(p), n, p, c, beta);
        }
        r0 += 4;
    }
    while r0 + 2 <= m && MB > 2 {
        for p in 0..panels {
            block::<F, 2, FMA>(a, r0, k, panel(p), n, p, c, beta);
        }
        r0 += 2;
    }
    while r0 < m {
        for p in 0..panels {
            block::<F, 1, FMA>(a, r0, k, panel(p), n, p, c, beta);
        }
        r0 += 1;
    }
}

/// Rows `r0 .. r0 + R` of `c`, columns of panel `p`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<F: Float, const R: usize, const FMA: bool>(
    a: &[F],
    r0: usize,
    k: usize,
    panel: &[F],
    n: usize,
    p: usize,
    c: &mut [F],
    beta: F,
) {
    let a = &a[r0 * k..(r0 + R) * k];
    let panel = &panel[..k * NR];
    let mut acc = [[F::zero(); NR]; R];
    for kk in 0..k {
        // SAFETY: `panel` has `k * NR` entries and `a` has `R * k`, checked by the slicing
        // above, and `kk < k`, `r < R`: every index below is in bounds. Unchecked access keeps
        // the accumulators in registers (a bounds check's panic path forces them to memory).
        let b: &[F; NR] = unsafe { &*(panel.as_ptr().add(kk * NR) as *const [F; NR]) };
        for (r, row) in acc.iter_mut().enumerate() {
            let av = unsafe { *a.get_unchecked(r * k + kk) };
            for j in 0..NR {
                row[j] = if FMA {
                    av.mul_add(b[j], row[j])
                } else {
                    row[j] + av * b[j]
                };
            }
        }
    }
    let cols = NR.min(n - p * NR);
    for (r, acc_row) in acc.iter().enumerate() {
        let out = &mut c[(r0 + r) * n + p * NR..][..cols];
        if beta == F::zero() {
            out.copy_from_slice(&acc_row[..cols]);
        } else {
            for (o, &v) in out.iter_mut().zip(acc_row) {
                *o = v + beta * *o;
            }
        }
    }
}

/// `c = alpha * a @ b + beta * c` with ndarray's GEMM, the rows of `c` split between threads.
pub fn views<F: Float>(
    alpha: F,
    a: &ArrayView2<'_, F>,
    b: &ArrayView2<'_, F>,
    beta: F,
    c: &mut ArrayViewMut2<'_, F>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    if m == 0 || n == 0 {
        return;
    }
    let threads = crate::kernels::threads::num_threads().min(m);
    if threads > 1 && m * n * k >= PARALLEL_MIN_WORK {
        let rows = m.div_ceil(threads);
        split_views(alpha, a, b, beta, c.view_mut(), rows);
    } else {
        general_mat_mul(alpha, a, b, beta, c);
    }
}

fn split_views<F: Float>(
    alpha: F,
    a: &ArrayView2<'_, F>,
    b: &ArrayView2<'_, F>,
    beta: F,
    mut c: ArrayViewMut2<'_, F>,
    rows: usize,
) {
    let m = c.nrows();
    if m <= rows {
        general_mat_mul(alpha, a, b, beta, &mut c);
        return;
    }
    let half = m.div_ceil(2);
    let (c0, c1) = c.split_at(ndarray::Axis(0), half);
    let a0 = a.slice(ndarray::s![..half, ..]);
    let a1 = a.slice(ndarray::s![half.., ..]);
    crate::kernels::threads::join(
        || split_views(alpha, &a0, b, beta, c0, rows),
        || split_views(alpha, &a1, b, beta, c1, rows),
    );
}
