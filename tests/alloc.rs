//! The number of heap allocations of one `forward` call and of one `backward` call does not
//! grow with the sequence length: every per-step buffer is allocated once per sequence, not once
//! per step.
//!
//! A counting global allocator wraps the system allocator and counts `alloc`, `alloc_zeroed`
//! and `realloc` calls, but only on a thread that has switched counting on (the test harness
//! allocates on other threads). The runtime runs on one thread (`rnn::set_num_threads(1)`), so
//! every allocation of the measured call happens on the measuring thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell as StdCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rnn::cells::{Gru, GruDims, LayerNormLstm, LayerNormLstmDims, Lstm, LstmDims, Narx, NarxDims};
use rnn::ndarray::Array3;
use rnn::rand::Rng;
use rnn::Cell;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static MEASURING: Mutex<()> = Mutex::new(());

thread_local! {
    static COUNTING: StdCell<bool> = const { StdCell::new(false) };
}

fn note_allocation() {
    // `try_with`: the thread-local may already be gone while a thread shuts down.
    if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counting neither allocates nor
// touches the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The number of allocations `f` makes on this thread (its result is dropped after counting).
/// Only one thread counts at a time (the tests of this file run in parallel).
fn count_allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let _guard = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let start = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let result = std::hint::black_box(f());
    COUNTING.with(|c| c.set(false));
    // No other thread is counting, so the difference is this thread's.
    (ALLOCATIONS.load(Ordering::Relaxed) - start, result)
}

const B: usize = 3;
const I: usize = 8;
const H: usize = 16;

fn random3(shape: (usize, usize, usize), seed: u64) -> Array3<f32> {
    let mut rng = rnn::seeded_rng(seed);
    Array3::from_shape_fn(shape, |_| rng.gen_range(-1.0..1.0))
}

/// Allocations of one `forward` and of one `backward` over `t` steps.
fn counts<C: Cell<f32>>(cell: &C, t: usize) -> (usize, usize) {
    let x = random3((t, B, cell.input_size()), 1);
    let d_out = random3((t, B, cell.output_size()), 2);
    // Warm up: lazy one-time initialization (thread count, CPU feature detection, ...) is not
    // part of a call's cost.
    let fwd = cell.forward(x.view(), None, None).unwrap();
    drop(cell.backward(&fwd, d_out.view(), None).unwrap());
    drop(fwd);

    let (n_forward, fwd) = count_allocations(|| cell.forward(x.view(), None, None).unwrap());
    let (n_backward, grads) =
        count_allocations(|| cell.backward(&fwd, d_out.view(), None).unwrap());
    drop(grads);
    (n_forward, n_backward)
}

/// Prints the counts at T = 4 and T = 40 and returns a line per call that grew.
fn check<C: Cell<f32>>(name: &str, cell: C) -> Vec<String> {
    let (f4, b4) = counts(&cell, 4);
    let (f40, b40) = counts(&cell, 40);
    println!(
        "{name:<14} forward: T=4 {f4:>5}, T=40 {f40:>5}   backward: T=4 {b4:>5}, T=40 {b40:>5}"
    );
    let mut failures = vec![];
    if f4 != f40 {
        failures.push(format!(
            "{name}.forward: {f4} allocations at T=4, {f40} at T=40"
        ));
    }
    if b4 != b40 {
        failures.push(format!(
            "{name}.backward: {b4} allocations at T=4, {b40} at T=40"
        ));
    }
    failures
}

#[test]
fn the_counter_sees_this_threads_allocations() {
    let (n, v) = count_allocations(|| (0..10).map(|i| vec![i; 4]).collect::<Vec<_>>());
    assert_eq!(v.len(), 10);
    assert!(n >= 11, "10 vectors and their container, counted {n}");
    let (n, _) = count_allocations(|| std::thread::spawn(|| vec![0u8; 4]).join().unwrap());
    let (n_spawn_only, _) = count_allocations(|| std::thread::spawn(|| ()).join().unwrap());
    assert_eq!(
        n, n_spawn_only,
        "another thread's allocations are not counted"
    );
}

#[test]
fn allocations_do_not_grow_with_sequence_length() {
    rnn::set_num_threads(1);
    let mut rng = rnn::seeded_rng(0);
    let mut failures = vec![];
    failures.extend(check("Lstm", Lstm::<f32>::new(LstmDims { I, H }, &mut rng)));
    failures.extend(check("Gru", Gru::<f32>::new(GruDims { I, H }, &mut rng)));
    failures.extend(check(
        "LayerNormLstm",
        LayerNormLstm::<f32>::new(LayerNormLstmDims { I, H }, &mut rng),
    ));
    failures.extend(check("Narx", Narx::<f32>::new(NarxDims { I, H }, &mut rng)));
    assert!(
        failures.is_empty(),
        "allocations grow with T:\n{}",
        failures.join("\n")
    );
}
