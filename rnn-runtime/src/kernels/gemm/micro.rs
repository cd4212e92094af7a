//! The f32 micro-kernels of the blocked GEMM: `C[MR, 32] = start + A[MR, kc] B[kc, 32]` from an
//! `A` block at any strides (packed: `kc` columns of `MR` values; or rows of a row-major
//! matrix, read in place) and a `B` panel (`kc` rows of 32 values, rows `bs` apart), with
//! every accumulator in a vector register.
//!
//! The `k` loop adds its products in order to an accumulator that starts from [`Start`], and a
//! block of `k` continues from what the previous block stored (`Start::Load`): the sum of each
//! element is the same sequence of fused multiply-adds whatever the blocking, the thread count
//! or the micro-kernel, so results never depend on them.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// How the accumulators start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Start {
    /// From zero (`C` is not read).
    Zero,
    /// From `beta * C`.
    Scaled(f32),
    /// From `C` (a later block of `k`, or `beta = 1`).
    Load,
}

/// AVX-512: `MR` rows of two 16-lane registers.
///
/// # Safety
/// The CPU supports AVX-512F; `a` holds element `(r, kk)` of the `MR x kc` block at
/// `a[r * ars + kk * acs]`, `b` holds `kc` rows of 32 values `bs` apart, and `c` holds `MR`
/// rows of 32 values `ldc` apart.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn avx512<const MR: usize>(
    kc: usize,
    a: *const f32,
    ars: usize,
    acs: usize,
    b: *const f32,
    bs: usize,
    c: *mut f32,
    ldc: usize,
    start: Start,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    match start {
        Start::Zero => {}
        Start::Load => {
            for (r, row) in acc.iter_mut().enumerate() {
                row[0] = _mm512_loadu_ps(c.add(r * ldc));
                row[1] = _mm512_loadu_ps(c.add(r * ldc + 16));
            }
        }
        Start::Scaled(beta) => {
            let beta = _mm512_set1_ps(beta);
            for (r, row) in acc.iter_mut().enumerate() {
                row[0] = _mm512_mul_ps(beta, _mm512_loadu_ps(c.add(r * ldc)));
                row[1] = _mm512_mul_ps(beta, _mm512_loadu_ps(c.add(r * ldc + 16)));
            }
        }
    }
    for kk in 0..kc {
        let b0 = _mm512_loadu_ps(b.add(kk * bs));
        let b1 = _mm512_loadu_ps(b.add(kk * bs + 16));
        for (r, row) in acc.iter_mut().enumerate() {
            let av = _mm512_set1_ps(*a.add(r * ars + kk * acs));
            row[0] = _mm512_fmadd_ps(av, b0, row[0]);
            row[1] = _mm512_fmadd_ps(av, b1, row[1]);
        }
    }
    for (r, row) in acc.iter().enumerate() {
        _mm512_storeu_ps(c.add(r * ldc), row[0]);
        _mm512_storeu_ps(c.add(r * ldc + 16), row[1]);
    }
}

/// AVX2 + FMA: `MR` rows of 16 columns (two 8-lane registers), so a 32-wide panel takes two
/// calls (16 registers cannot hold `MR x 32` accumulators for a useful `MR`).
///
/// # Safety
/// The CPU supports AVX2 and FMA; `a` holds element `(r, kk)` of the `MR x kc` block at
/// `a[r * ars + kk * acs]`, `b` holds `kc` rows of 16 values `bs` apart, and `c` holds `MR`
/// rows of 16 values `ldc` apart.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn avx2<const MR: usize>(
    kc: usize,
    a: *const f32,
    ars: usize,
    acs: usize,
    b: *const f32,
    bs: usize,
    c: *mut f32,
    ldc: usize,
    start: Start,
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    match start {
        Start::Zero => {}
        Start::Load => {
            for (r, row) in acc.iter_mut().enumerate() {
                row[0] = _mm256_loadu_ps(c.add(r * ldc));
                row[1] = _mm256_loadu_ps(c.add(r * ldc + 8));
            }
        }
        Start::Scaled(beta) => {
            let beta = _mm256_set1_ps(beta);
            for (r, row) in acc.iter_mut().enumerate() {
                row[0] = _mm256_mul_ps(beta, _mm256_loadu_ps(c.add(r * ldc)));
                row[1] = _mm256_mul_ps(beta, _mm256_loadu_ps(c.add(r * ldc + 8)));
            }
        }
    }
    for kk in 0..kc {
        let b0 = _mm256_loadu_ps(b.add(kk * bs));
        let b1 = _mm256_loadu_ps(b.add(kk * bs + 8));
        for (r, row) in acc.iter_mut().enumerate() {
            let av = _mm256_broadcast_ss(&*a.add(r * ars + kk * acs));
            row[0] = _mm256_fmadd_ps(av, b0, row[0]);
            row[1] = _mm256_fmadd_ps(av, b1, row[1]);
        }
    }
    for (r, row) in acc.iter().enumerate() {
        _mm256_storeu_ps(c.add(r * ldc), row[0]);
        _mm256_storeu_ps(c.add(r * ldc + 8), row[1]);
    }
}
