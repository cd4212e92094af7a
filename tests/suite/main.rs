//! The facade's integration tests, one module per topic, in one test binary so that the
//! built-in cells and the cells declared here are compiled and linked once.
//!
//! Three tests live in binaries of their own because they change the whole process:
//! `tests/alloc.rs` and `tests/pool_memory.rs` install counting global allocators, and
//! `tests/isa_paths.rs` runs itself again with the baseline and the AVX2 versions of the
//! passes forced, a choice read once per process.

mod api;
mod bad_input;
mod chunking;
mod common;
mod compile_fail;
mod ctc;
mod formats;
mod gradcheck;
mod gradcheck_robust;
mod guards;
mod inline_cells;
mod language_ii;
mod masks;
mod model;
mod model_checkpoint;
mod onnx;
mod pytorch_reference;
mod tasks;
mod thread_determinism;
mod torch_interop;
mod trace_identity;
mod typed_api;
mod variant_reference;

use std::sync::{Mutex, MutexGuard};

/// Held by every test that sets the runtime's thread count (`recurrent::set_num_threads`, a
/// process-wide setting), so that a test comparing 1 thread with 2 runs with the counts it set.
pub fn thread_count_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
