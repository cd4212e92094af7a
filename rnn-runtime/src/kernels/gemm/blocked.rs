//! The blocked f32 GEMM `C = A B + beta C` on x86-64 (AVX-512 or AVX2 + FMA), in the layout of
//! BLIS: the `k` dimension in blocks of `kc` (a `kc x 32` panel of `B` fills half the level-1
//! data cache and stays there while every row block of `A` passes over it), the rows of `A` in
//! blocks of `mc` packed into `MR`-row micro-panels (half the level-2 cache), and a register
//! block of `MR x 32` accumulators ([`super::micro`]). `kc` and `mc` come from the cache sizes
//! of the CPU it runs on ([`CacheSizes`]), `MR` from its vector width.
//!
//! `B` is either packed once by the caller (the weights, [`super::pack_into`]) or any strided
//! matrix, packed here one `kc x 32` panel at a time. Threads split the 32-column panels of `C`
//! (each thread reads only its part of `B`; the rows of `A` are packed by both); the sum of
//! each element never depends on the split or on the block sizes (see [`super::micro`]).
//!
//! Packing buffers are per thread and reused (the buffer pool's scratch memory): after a
//! thread's first call, no call allocates.

use super::cache::CacheSizes;
use super::micro::{self, Start};
use super::NR;
use crate::kernels::pool::with_scratch;

/// The instruction set of the micro-kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F: 32 registers of 16 lanes.
    Avx512,
    /// AVX2 + FMA: 16 registers of 8 lanes.
    Avx2,
}

impl Isa {
    /// The best the CPU supports, if any.
    pub fn detect() -> Option<Isa> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Some(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Some(Isa::Avx2);
            }
        }
        None
    }
}

/// Block sizes: rows of the register block, and the `k` and row blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// The micro-kernel.
    pub isa: Isa,
    /// Rows of the register block (AVX-512: 4, 6, 8, 12 or 14; AVX2: 4 or 6).
    pub mr: usize,
    /// Depth of a `k` block.
    pub kc: usize,
    /// Rows of a block of `A` (a multiple of `mr`).
    pub mc: usize,
}

impl Blocking {
    /// The blocking for `isa` on this CPU's caches: a `kc x 32` panel of `B` in half the L1
    /// data cache, an `mc x kc` block of `A` in half the L2.
    pub fn for_cpu(isa: Isa) -> Blocking {
        let caches = CacheSizes::of_this_cpu();
        let mr = match isa {
            Isa::Avx512 => 8,
            Isa::Avx2 => 6,
        };
        Blocking::from_caches(isa, mr, caches)
    }

    /// The blocking for `isa` with `mr`-row register blocks on caches of the given sizes.
    pub fn from_caches(isa: Isa, mr: usize, caches: CacheSizes) -> Blocking {
        let f = std::mem::size_of::<f32>();
        let kc = (caches.l1d / 2 / (NR * f)).clamp(64, 1024) / 8 * 8;
        let mc = ((caches.l2 / 2 / (kc * f)).clamp(mr, 4096) / mr) * mr;
        Blocking { isa, mr, kc, mc }
    }
}

/// `A`: element `(i, kk)` at `ptr[i * rs + kk * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct Left {
    /// First element.
    pub ptr: *const f32,
    /// Distance between rows.
    pub rs: usize,
    /// Distance between columns.
    pub cs: usize,
}

/// `B`: packed in 32-column panels of all `k` rows ([`super::pack_into`]), or strided.
#[derive(Clone, Copy, Debug)]
pub enum Right {
    /// Panel `p`, row `kk` at `ptr[p * k * NR + kk * NR]`.
    Packed(*const f32),
    /// Element `(kk, j)` at `ptr[kk * rs + j * cs]`.
    Strided {
        /// First element.
        ptr: *const f32,
        /// Distance between rows.
        rs: usize,
        /// Distance between columns.
        cs: usize,
    },
}

/// One product: `c[m, n]` (rows `ldc` apart) `= a[m, k] b[k, n] + beta c`.
#[derive(Clone, Copy, Debug)]
pub struct Product {
    /// Rows of `A` and `C`.
    pub m: usize,
    /// Columns of `B` and `C`.
    pub n: usize,
    /// Columns of `A`, rows of `B`.
    pub k: usize,
    /// `A`.
    pub a: Left,
    /// `B`.
    pub b: Right,
    /// First element of `C`.
    pub c: *mut f32,
    /// Distance between rows of `C`.
    pub ldc: usize,
    /// Factor of the old `C`.
    pub beta: f32,
}

// SAFETY: a `Product` is a description of memory that the caller of `run` guarantees valid for
// the whole call; threads write disjoint column ranges of `C` and only read `A` and `B`.
unsafe impl Send for Product {}
unsafe impl Sync for Product {}

/// Below this many multiply-adds a product is not split between threads.
const PARALLEL_MIN_WORK: usize = 1 << 21;

/// Runs `product` with `blocking`, its panels split between the runtime's threads.
///
/// # Safety
/// `a`, `b` and `c` hold the elements the product reads and writes (a packed `B` has
/// `n.div_ceil(NR) * k * NR` values), `c` does not overlap them, and the CPU supports
/// `blocking.isa`.
pub unsafe fn run(product: &Product, blocking: &Blocking) {
    let Product { m, n, k, .. } = *product;
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            let row = std::slice::from_raw_parts_mut(product.c.add(i * product.ldc), n);
            for x in row {
                *x = if product.beta == 0.0 {
                    0.0
                } else {
                    product.beta * *x
                };
            }
        }
        return;
    }
    let panels = n.div_ceil(NR);
    let threads = crate::kernels::threads::num_threads().min(panels);
    if threads > 1 && m * n * k >= PARALLEL_MIN_WORK {
        split(product, blocking, 0, panels, panels.div_ceil(threads));
    } else {
        panels_range(product, blocking, 0, panels);
    }
}

/// Panels `p0..p1` in parallel, in ranges of at most `chunk` panels.
fn split(product: &Product, blocking: &Blocking, p0: usize, p1: usize, chunk: usize) {
    if p1 - p0 <= chunk {
        // SAFETY: the caller of `run` guarantees the memory; ranges are disjoint.
        return unsafe { panels_range(product, blocking, p0, p1) };
    }
    let half = p0 + (p1 - p0).div_ceil(2).div_ceil(chunk) * chunk;
    crate::kernels::threads::join(
        || split(product, blocking, p0, half.min(p1), chunk),
        || split(product, blocking, half.min(p1), p1, chunk),
    );
}

/// Splits `scratch` into two 64-byte-aligned (cache-line) slices of `a_len` and `b_len` values.
fn split_aligned(scratch: &mut [f32], a_len: usize, b_len: usize) -> (&mut [f32], &mut [f32]) {
    let skip = scratch.as_ptr().align_offset(64).min(LANES);
    let (a, rest) = scratch[skip..].split_at_mut(a_len.next_multiple_of(LANES));
    (&mut a[..a_len], &mut rest[..b_len])
}

/// f32 values in 64 bytes.
const LANES: usize = 16;

/// Panels `p0..p1` of `C`, on this thread.
unsafe fn panels_range(product: &Product, blocking: &Blocking, p0: usize, p1: usize) {
    let Product { m, n, k, .. } = *product;
    let Blocking { mr, kc, mc, .. } = *blocking;
    let direct = product.a.cs == 1;
    // Full-size buffers whatever the product, so that a thread allocates them once.
    let (a_len, b_len) = (mc * kc, kc * NR);
    with_scratch(a_len.next_multiple_of(LANES) + b_len + LANES, |scratch| {
        let (a_pack, b_pack) = split_aligned(scratch, a_len, b_len);
        for kb in (0..k).step_by(kc) {
            let kcb = kc.min(k - kb);
            let start = match (kb, product.beta) {
                (0, 0.0) => Start::Zero,
                (0, 1.0) | (1.., _) => Start::Load,
                (0, beta) => Start::Scaled(beta),
            };
            for ib in (0..m).step_by(mc) {
                let mcb = mc.min(m - ib);
                // A row-major `A` is read in place, but for a last partial block of rows
                // (packed with zero rows, so the kernel reads nothing past `A`); any other
                // layout is packed.
                let whole = if direct { mcb / mr * mr } else { 0 };
                pack_a(&product.a, ib + whole, mcb - whole, kb, kcb, mr, a_pack);
                for p in p0..p1 {
                    let b = match product.b {
                        Right::Packed(ptr) => ptr.add(p * k * NR + kb * NR),
                        Right::Strided { ptr, rs, cs } => {
                            pack_b(ptr, rs, cs, kb, kcb, p * NR, n, b_pack);
                            b_pack.as_ptr()
                        }
                    };
                    let cols = NR.min(n - p * NR);
                    for ir in (0..mcb).step_by(mr) {
                        let rows = mr.min(mcb - ir);
                        let c = product.c.add((ib + ir) * product.ldc + p * NR);
                        let a = if ir < whole {
                            let a = &product.a;
                            (a.ptr.add((ib + ir) * a.rs + kb), a.rs, 1)
                        } else {
                            (a_pack.as_ptr().add((ir - whole) * kcb), 1, mr)
                        };
                        tile(blocking, kcb, a, b, c, product.ldc, rows, cols, start);
                    }
                }
            }
        }
    });
}

/// `A[ib.., kb..]` (`mcb x kcb`, possibly none) as micro-panels: for each block of `mr` rows, `kcb` columns of
/// `mr` values (rows past `mcb` are zeros).
unsafe fn pack_a(
    a: &Left,
    ib: usize,
    mcb: usize,
    kb: usize,
    kcb: usize,
    mr: usize,
    out: &mut [f32],
) {
    let mut o = 0;
    for ir in (0..mcb).step_by(mr) {
        let rows = mr.min(mcb - ir);
        for kk in 0..kcb {
            let col = a.ptr.add((ib + ir) * a.rs + (kb + kk) * a.cs);
            for r in 0..rows {
                out[o + r] = *col.add(r * a.rs);
            }
            out[o + rows..o + mr].fill(0.0);
            o += mr;
        }
    }
}

/// Rows `kb..kb + kcb` of the 32 columns of `B` from `j0` as one panel (columns past `n` are
/// zeros).
#[allow(clippy::too_many_arguments)]
unsafe fn pack_b(
    ptr: *const f32,
    rs: usize,
    cs: usize,
    kb: usize,
    kcb: usize,
    j0: usize,
    n: usize,
    out: &mut [f32],
) {
    let cols = NR.min(n - j0);
    for kk in 0..kcb {
        let row = ptr.add((kb + kk) * rs + j0 * cs);
        let dst = &mut out[kk * NR..(kk + 1) * NR];
        if cs == 1 {
            dst[..cols].copy_from_slice(std::slice::from_raw_parts(row, cols));
        } else {
            for (j, d) in dst[..cols].iter_mut().enumerate() {
                *d = *row.add(j * cs);
            }
        }
        dst[cols..].fill(0.0);
    }
}

/// One register block of `C` (`rows x cols`, at most `mr x 32`): straight into `C` when whole,
/// through a tile on the stack at the edges.
#[allow(clippy::too_many_arguments)]
unsafe fn tile(
    blocking: &Blocking,
    kc: usize,
    a: (*const f32, usize, usize),
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    start: Start,
) {
    if rows == blocking.mr && cols == NR {
        return micro_kernel(blocking, kc, a, b, c, ldc, start);
    }
    let mut edge = [0f32; 16 * NR];
    if start != Start::Zero {
        for r in 0..rows {
            std::ptr::copy_nonoverlapping(c.add(r * ldc), edge.as_mut_ptr().add(r * NR), cols);
        }
    }
    micro_kernel(blocking, kc, a, b, edge.as_mut_ptr(), NR, start);
    for r in 0..rows {
        std::ptr::copy_nonoverlapping(edge.as_ptr().add(r * NR), c.add(r * ldc), cols);
    }
}

/// The micro-kernel of `blocking` on a whole `mr x 32` block.
#[allow(clippy::too_many_arguments)]
unsafe fn micro_kernel(
    blocking: &Blocking,
    kc: usize,
    (a, ars, acs): (*const f32, usize, usize),
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    start: Start,
) {
    #[cfg(target_arch = "x86_64")]
    match (blocking.isa, blocking.mr) {
        (Isa::Avx512, 4) => micro::avx512::<4>(kc, a, ars, acs, b, NR, c, ldc, start),
        (Isa::Avx512, 6) => micro::avx512::<6>(kc, a, ars, acs, b, NR, c, ldc, start),
        (Isa::Avx512, 8) => micro::avx512::<8>(kc, a, ars, acs, b, NR, c, ldc, start),
        (Isa::Avx512, 12) => micro::avx512::<12>(kc, a, ars, acs, b, NR, c, ldc, start),
        (Isa::Avx512, 14) => micro::avx512::<14>(kc, a, ars, acs, b, NR, c, ldc, start),
        (Isa::Avx2, 4) => {
            micro::avx2::<4>(kc, a, ars, acs, b, NR, c, ldc, start);
            micro::avx2::<4>(kc, a, ars, acs, b.add(16), NR, c.add(16), ldc, start);
        }
        (Isa::Avx2, 6) => {
            micro::avx2::<6>(kc, a, ars, acs, b, NR, c, ldc, start);
            micro::avx2::<6>(kc, a, ars, acs, b.add(16), NR, c.add(16), ldc, start);
        }
        other => unreachable!("no micro-kernel for {other:?}"),
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the blocked GEMM runs on x86-64 only")
}
