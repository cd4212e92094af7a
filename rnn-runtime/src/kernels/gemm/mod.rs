//! Matrix products of the runtime.
//!
//! The per-step recurrent product `[B, k] @ [k, n]` runs at every step with the same weights,
//! so the weights are packed once per sequence into column panels of width [`NR`] (zero-padded,
//! [`pack_into`]). The same packed weights serve the hoisted input product (`[T * B, I] @ W`)
//! and, transposed, the input gradient; the weight gradients (`[k, T * B] @ [T * B, n]`, once
//! per sequence) are general products ([`gemm_views`]).
//!
//! In f32 on x86-64 with AVX-512 or AVX2 + FMA, every product runs the blocked GEMM
//! ([`blocked`]): blocks sized from the CPU's caches read at run time ([`cache`]), and
//! register-blocked micro-kernels ([`micro`]). Elsewhere (f64, other CPUs) the portable kernel
//! runs ([`portable`]). With more than one thread (see [`crate::set_num_threads`]) a product
//! splits its output between the calling thread and the runtime's persistent helper threads
//! (`threads::join`, which allocates nothing); results never depend on the thread count.

use std::any::TypeId;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::kernels::float::Float;

pub mod blocked;
pub mod cache;
pub mod micro;
pub mod portable;

use blocked::{Blocking, Isa, Left, Product, Right};

/// Width of a weight panel (two AVX-512 registers of f32).
pub const NR: usize = 32;

/// Number of scalars of `[k, n]` weights packed in panels.
pub fn packed_len(k: usize, n: usize) -> usize {
    n.div_ceil(NR) * k * NR
}

/// Packs row-major `w: [k, n]` (row stride `ld`, starting at column `col`) into panel `p`
/// columns `col..` of the panel layout: panel `p` holds columns `p*NR .. p*NR + NR` as `k` rows
/// of `NR`, zero-padded.
pub fn pack_into<F: Float>(
    packed: &mut [F],
    k: usize,
    n_total: usize,
    col: usize,
    w: &[F],
    ld: usize,
    n: usize,
) {
    debug_assert_eq!(packed.len(), packed_len(k, n_total));
    for r in 0..k {
        for c in 0..n {
            let j = col + c;
            let (p, lane) = (j / NR, j % NR);
            packed[p * k * NR + r * NR + lane] = w[r * ld + c];
        }
    }
}

/// The transpose `[n, k]` of weights packed as `[k, n]`, packed the same way.
pub fn transpose_packed<F: Float>(packed: &[F], k: usize, n: usize) -> Vec<F> {
    let mut out = vec![F::zero(); packed_len(n, k)];
    transpose_packed_into(packed, k, n, &mut out);
    out
}

/// [`transpose_packed`] into `out` (of [`packed_len`]`(n, k)` zeros).
pub fn transpose_packed_into<F: Float>(packed: &[F], k: usize, n: usize, out: &mut [F]) {
    for j in 0..n {
        let (p, lane) = (j / NR, j % NR);
        for r in 0..k {
            let v = packed[p * k * NR + r * NR + lane];
            // Element (j, r) of the transpose: row j, column r.
            let (q, lane2) = (r / NR, r % NR);
            out[q * n * NR + j * NR + lane2] = v;
        }
    }
}

/// The operands of `c = a @ W + beta * c`: `a: [m, k]` row-major, `W: [k, n]` packed by
/// [`pack_into`].
#[derive(Clone, Copy, Debug)]
pub struct PackedProduct<'a, F> {
    /// `a: [m, k]`, row-major.
    pub a: &'a [F],
    /// Rows of `a` and `c`.
    pub m: usize,
    /// Columns of `a`, rows of `W`.
    pub k: usize,
    /// `W`, packed.
    pub w: &'a [F],
    /// Columns of `W` and `c`.
    pub n: usize,
    /// Factor of the old `c`.
    pub beta: F,
}

/// `c = a @ W + beta * c` for `a: [m, k]` (row-major), `W: [k, n]` packed by [`pack_into`],
/// `c: [m, n]` (row-major).
pub fn gemm_packed<F: Float>(
    a: &[F],
    m: usize,
    k: usize,
    packed: &[F],
    n: usize,
    c: &mut [F],
    beta: F,
) {
    let product = PackedProduct {
        a,
        m,
        k,
        w: packed,
        n,
        beta,
    };
    match f32_isa::<F>() {
        Some(isa) => gemm_packed_blocked(&product, c, &Blocking::for_cpu(isa)),
        None => portable::packed(&product, c),
    }
}

/// [`gemm_packed`] with the blocked f32 GEMM and the given blocking (for measurements of other
/// block sizes; the blocking's instruction set must be the CPU's).
///
/// # Panics
/// When `F` is not `f32`, the CPU lacks `blocking.isa`, or a slice is too short.
pub fn gemm_packed_blocked<F: Float>(p: &PackedProduct<'_, F>, c: &mut [F], blocking: &Blocking) {
    let PackedProduct {
        a,
        m,
        k,
        w,
        n,
        beta,
    } = *p;
    assert!(f32_isa::<F>().is_some_and(|isa| isa == blocking.isa || blocking.isa == Isa::Avx2));
    assert!(a.len() >= m * k && c.len() >= m * n && w.len() >= packed_len(k, n));
    let product = Product {
        m,
        n,
        k,
        a: Left {
            ptr: a.as_ptr().cast(),
            rs: k,
            cs: 1,
        },
        b: Right::Packed(w.as_ptr().cast()),
        c: c.as_mut_ptr().cast(),
        ldc: n,
        beta: beta.to_f64() as f32,
    };
    // SAFETY: `F` is `f32` (checked), the lengths were checked above, `c` is borrowed mutably
    // apart from the others, and the CPU supports the instruction set (checked).
    unsafe { blocked::run(&product, blocking) }
}

/// `c = alpha * a @ b + beta * c` for any strided `a: [m, k]`, `b: [k, n]`, `c: [m, n]`.
pub fn gemm_views<F: Float>(
    alpha: F,
    a: &ArrayView2<'_, F>,
    b: &ArrayView2<'_, F>,
    beta: F,
    c: &mut ArrayViewMut2<'_, F>,
) {
    let non_negative = |s: &[isize]| s.iter().all(|&s| s >= 0);
    let rows_contiguous = c.ncols() <= 1 || c.strides()[1] == 1;
    match f32_isa::<F>() {
        Some(isa)
            if alpha == F::one()
                && rows_contiguous
                && non_negative(a.strides())
                && non_negative(b.strides())
                && non_negative(c.strides()) =>
        {
            let (m, k) = a.dim();
            let n = b.ncols();
            let (sa, sb) = (a.strides(), b.strides());
            let product = Product {
                m,
                n,
                k,
                a: Left {
                    ptr: a.as_ptr().cast(),
                    rs: sa[0] as usize,
                    cs: sa[1] as usize,
                },
                b: Right::Strided {
                    ptr: b.as_ptr().cast(),
                    rs: sb[0] as usize,
                    cs: sb[1] as usize,
                },
                ldc: c.strides()[0] as usize,
                c: c.as_mut_ptr().cast(),
                beta: beta.to_f64() as f32,
            };
            // SAFETY: `F` is `f32`; the views describe valid memory at their (non-negative)
            // strides, `c` is borrowed mutably apart from `a` and `b`, and the CPU supports the
            // instruction set.
            unsafe { blocked::run(&product, &Blocking::for_cpu(isa)) }
        }
        _ => portable::views(alpha, a, b, beta, c),
    }
}

/// The instruction set of the blocked GEMM when `F` is `f32` and the CPU has one.
fn f32_isa<F: Float>() -> Option<Isa> {
    if TypeId::of::<F>() == TypeId::of::<f32>() {
        Isa::detect()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(a: &[f64], m: usize, k: usize, w: &[f64], n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|l| a[i * k + l] * w[l * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn packed_gemm_matches_the_definition() {
        for (m, k, n) in [(1, 1, 1), (7, 5, 17), (13, 33, 40), (64, 20, 16), (6, 0, 3)] {
            let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
            let w: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
            let mut packed = vec![0.0; packed_len(k, n)];
            pack_into(&mut packed, k, n, 0, &w, n, n);
            let mut c = vec![1.0; m * n];
            gemm_packed(&a, m, k, &packed, n, &mut c, 0.5);
            let expected = reference(&a, m, k, &w, n);
            for (x, y) in c.iter().zip(&expected) {
                assert!((x - (y + 0.5)).abs() < 1e-12, "{m}x{k}x{n}");
            }
            // The transpose: d[m, n] @ W^T = [m, k].
            let wt = transpose_packed(&packed, k, n);
            let d: Vec<f64> = (0..m * n).map(|i| (i as f64 * 0.7).sin()).collect();
            let mut e = vec![0.0; m * k];
            gemm_packed(&d, m, n, &wt, k, &mut e, 0.0);
            let wt_rows: Vec<f64> = (0..n * k).map(|i| w[(i % k) * n + i / k]).collect();
            let expected = reference(&d, m, n, &wt_rows, k);
            for (x, y) in e.iter().zip(&expected) {
                assert!((x - y).abs() < 1e-12, "transpose {m}x{k}x{n}");
            }
        }
    }
}

#[cfg(test)]
mod blocked_tests {
    use super::*;
    use crate::kernels::gemm::cache::CacheSizes;

    /// Every micro-kernel this CPU runs, with the CPU's blocking and with tiny blocks (so that
    /// every product has several `k` and row blocks).
    fn blockings() -> Vec<Blocking> {
        let Some(isa) = Isa::detect() else {
            return vec![];
        };
        let mut isas = vec![Isa::Avx2];
        if isa == Isa::Avx512 {
            isas.push(Isa::Avx512);
        }
        let tiny = CacheSizes {
            l1d: 8 << 10,
            l2: 64 << 10,
        };
        let mut out = vec![];
        for isa in isas {
            let mrs: &[usize] = match isa {
                Isa::Avx512 => &[4, 6, 8, 12, 14],
                Isa::Avx2 => &[4, 6],
            };
            for &mr in mrs {
                out.push(Blocking::from_caches(isa, mr, CacheSizes::of_this_cpu()));
                let mut small = Blocking::from_caches(isa, mr, tiny);
                small.kc = 8;
                small.mc = 2 * mr;
                out.push(small);
            }
        }
        out
    }

    fn numbers(len: usize, seed: f32) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * seed).sin()).collect()
    }

    const SHAPES: [(usize, usize, usize); 7] = [
        (1, 1, 1),
        (7, 5, 17),
        (13, 33, 40),
        (64, 20, 16),
        (6, 0, 3),
        (50, 70, 100),
        (3, 200, 65),
    ];

    /// `a @ w + beta * c0` in f64.
    fn reference(
        a: &[f32],
        w: &[f32],
        c0: &[f32],
        beta: f32,
        (m, k, n): (usize, usize, usize),
    ) -> Vec<f64> {
        (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                let dot: f64 = (0..k)
                    .map(|l| a[i * k + l] as f64 * w[l * n + j] as f64)
                    .sum();
                dot + beta as f64 * c0[ij] as f64
            })
            .collect()
    }

    #[test]
    fn blocked_products_match_the_definition_and_one_another_to_the_bit() {
        let blockings = blockings();
        for &(m, k, n) in &SHAPES {
            let (a, w, c0) = (
                numbers(m * k, 0.37),
                numbers(k * n, 0.11),
                numbers(m * n, 0.7),
            );
            let mut packed = vec![0f32; packed_len(k, n)];
            pack_into(&mut packed, k, n, 0, &w, n, n);
            for beta in [0.0f32, 1.0, 0.5] {
                let expected = reference(&a, &w, &c0, beta, (m, k, n));
                let mut first: Option<Vec<f32>> = None;
                for blocking in &blockings {
                    // Packed weights.
                    let mut c = c0.clone();
                    let product = PackedProduct {
                        a: &a,
                        m,
                        k,
                        w: &packed,
                        n,
                        beta,
                    };
                    gemm_packed_blocked(&product, &mut c, blocking);
                    // The same product with `a` given transposed and `w` strided.
                    let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
                    let at = ArrayView2::from_shape((k, m), &at).unwrap();
                    let wv = ArrayView2::from_shape((k, n), &w).unwrap();
                    let mut c2 = c0.clone();
                    {
                        let mut cv = ArrayViewMut2::from_shape((m, n), &mut c2).unwrap();
                        let product = Product {
                            m,
                            n,
                            k,
                            a: Left {
                                ptr: at.as_ptr(),
                                rs: 1,
                                cs: m,
                            },
                            b: Right::Strided {
                                ptr: wv.as_ptr(),
                                rs: n,
                                cs: 1,
                            },
                            c: cv.as_mut_ptr(),
                            ldc: n,
                            beta,
                        };
                        // SAFETY: the views hold the elements; the CPU has the instruction set.
                        unsafe { blocked::run(&product, blocking) };
                    }
                    for (i, (x, y)) in c.iter().zip(&expected).enumerate() {
                        assert!(
                            (*x as f64 - y).abs() <= 1e-5 * (1.0 + y.abs()),
                            "{blocking:?} {m}x{k}x{n} beta {beta}: c[{i}] = {x}, expected {y}"
                        );
                    }
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&c), bits(&c2), "{blocking:?} {m}x{k}x{n}: strided");
                    match &first {
                        None => first = Some(c),
                        Some(f) => assert_eq!(bits(f), bits(&c), "{blocking:?} {m}x{k}x{n}"),
                    }
                }
            }
        }
    }

    #[test]
    fn general_f32_products_through_views() {
        // c += a^T d, as the weight gradients are computed.
        let (m, k, n) = (37, 19, 45);
        let (a, d) = (numbers(m * k, 0.3), numbers(m * n, 0.9));
        let mut c = numbers(k * n, 0.2);
        let expected: Vec<f64> = (0..k * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                c[ij] as f64
                    + (0..m)
                        .map(|r| a[r * k + i] as f64 * d[r * n + j] as f64)
                        .sum::<f64>()
            })
            .collect();
        let av = ArrayView2::from_shape((m, k), &a).unwrap();
        let dv = ArrayView2::from_shape((m, n), &d).unwrap();
        let mut cv = ArrayViewMut2::from_shape((k, n), &mut c).unwrap();
        gemm_views(1.0, &av.t(), &dv, 1.0, &mut cv);
        for (x, y) in c.iter().zip(&expected) {
            assert!(
                (*x as f64 - y).abs() <= 1e-5 * (1.0 + y.abs()),
                "{x} vs {y}"
            );
        }
    }
}
