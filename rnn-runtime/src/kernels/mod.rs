//! **Kernels**, the bottom layer: the scalar type and the numeric machinery every pass runs on.
//!
//! - `float`: the `Float` trait (`f32`, `f64`) everything in the crate is generic over;
//! - `fastmath`: vectorizable `exp`, `sigmoid`, `tanh` and the smooth activations (`softplus`,
//!   `gelu`, ...) for `f32`;
//! - `gemm`: packed matrix products, split over the runtime's threads;
//! - `pool`: the per-thread pool of the buffers a pass (and its trace) needs;
//! - `threads`: the thread-count knob and the allocation-free fork-join.
//!
//! May import: nothing of the crate outside `kernels` (only `std`, `ndarray` and `libm`).
//!
//! `Float` lives here, not in `core`, because the imports say so: `gemm` and `pool` are generic
//! over it and its `f32` activations are `fastmath`'s, while `core` needs the kernels (a trace
//! hands its buffers back to `pool`; `__private` re-exports `pool`, `threads` and `gemm`). With
//! `Float` in `core`, the two layers would import each other.
//!
//! `fastmath` and `gemm` are reachable from the crate root for the benchmarks and tests, but
//! hidden from the documentation: they are not public API.

#[doc(hidden)]
pub mod fastmath;
pub(crate) mod float;
#[doc(hidden)]
pub mod gemm;
pub(crate) mod pool;
pub(crate) mod threads;
