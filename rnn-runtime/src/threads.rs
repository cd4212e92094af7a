//! The thread-count knob: how many threads the runtime's products use.
//!
//! Set it with [`set_num_threads`] or the `RNN_NUM_THREADS` environment variable (read once, at
//! the first use); the default is the number of cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

static THREADS: AtomicUsize = AtomicUsize::new(0);
static DEFAULT: OnceLock<usize> = OnceLock::new();

fn default_threads() -> usize {
    *DEFAULT.get_or_init(|| {
        std::env::var("RNN_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Sets the number of threads the runtime uses (at least 1).
pub fn set_num_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// The number of threads the runtime uses.
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}
