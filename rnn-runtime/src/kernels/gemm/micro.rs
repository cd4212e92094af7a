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

/// Declares a micro-kernel: `MR` rows of two vector registers of `$lanes` f32 lanes each,
/// written once for every instruction set with that instruction set's intrinsics.
macro_rules! micro_kernel {
    (
        $(#[$doc:meta])*
        $name:ident, $features:literal, $lanes:literal,
        zero: $zero:ident, load: $load:ident, store: $store:ident,
        splat: $splat:ident, mul: $mul:ident, fma: $fma:ident
    ) => {
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn $name<const MR: usize>(
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
            let mut acc = [[$zero(); 2]; MR];
            match start {
                Start::Zero => {}
                Start::Load => {
                    for (r, row) in acc.iter_mut().enumerate() {
                        row[0] = $load(c.add(r * ldc));
                        row[1] = $load(c.add(r * ldc + $lanes));
                    }
                }
                Start::Scaled(beta) => {
                    let beta = $splat(beta);
                    for (r, row) in acc.iter_mut().enumerate() {
                        row[0] = $mul(beta, $load(c.add(r * ldc)));
                        row[1] = $mul(beta, $load(c.add(r * ldc + $lanes)));
                    }
                }
            }
            for kk in 0..kc {
                let b0 = $load(b.add(kk * bs));
                let b1 = $load(b.add(kk * bs + $lanes));
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = $splat(*a.add(r * ars + kk * acs));
                    row[0] = $fma(av, b0, row[0]);
                    row[1] = $fma(av, b1, row[1]);
                }
            }
            for (r, row) in acc.iter().enumerate() {
                $store(c.add(r * ldc), row[0]);
                $store(c.add(r * ldc + $lanes), row[1]);
            }
        }
    };
}

micro_kernel!(
    /// AVX-512: `MR` rows of 32 columns (two 16-lane registers).
    ///
    /// # Safety
    /// The CPU supports AVX-512F; `a` holds element `(r, kk)` of the `MR x kc` block at
    /// `a[r * ars + kk * acs]`, `b` holds `kc` rows of 32 values `bs` apart, and `c` holds `MR`
    /// rows of 32 values `ldc` apart.
    avx512, "avx512f", 16,
    zero: _mm512_setzero_ps, load: _mm512_loadu_ps, store: _mm512_storeu_ps,
    splat: _mm512_set1_ps, mul: _mm512_mul_ps, fma: _mm512_fmadd_ps
);

micro_kernel!(
    /// AVX2 + FMA: `MR` rows of 16 columns (two 8-lane registers), so a 32-wide panel takes two
    /// calls (16 registers cannot hold `MR x 32` accumulators for a useful `MR`).
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA; `a` holds element `(r, kk)` of the `MR x kc` block at
    /// `a[r * ars + kk * acs]`, `b` holds `kc` rows of 16 values `bs` apart, and `c` holds `MR`
    /// rows of 16 values `ldc` apart.
    avx2, "avx2,fma", 8,
    zero: _mm256_setzero_ps, load: _mm256_loadu_ps, store: _mm256_storeu_ps,
    splat: _mm256_set1_ps, mul: _mm256_mul_ps, fma: _mm256_fmadd_ps
);
