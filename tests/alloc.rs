//! The number of heap allocations of one `forward` call and of one `backward` call does not
//! grow with the sequence length, on one thread and on two: every per-step buffer is allocated
//! once per sequence, not once per step, and splitting a step's work between threads allocates
//! nothing either.
//!
//! A counting global allocator wraps the system allocator and counts `alloc`, `alloc_zeroed`
//! and `realloc` calls on every thread (the runtime's helper threads included) while a
//! measurement window is open. The test harness allocates too (on its own threads, to report
//! results), so this file has a single `#[test]`: nothing else in the process runs while a
//! window is open.
//!
//! At 2 threads, the sizes make the passes split their work: every fused loop of a step has
//! `B * H = 2^14` values (`split_examples`' threshold), the per-step products have
//! `B * 3H * H >= 2^21` multiply-adds (the GEMM's threshold), and so do the weight gradients
//! (`I * 3H * T * B` at T = 4: with a smaller `I`, the input weights' gradient would be split
//! between the threads, with one more packing buffer of matrixmultiply, only from some T on).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use recurrent::cells::{
    Gru, GruDims, LayerNormLstm, LayerNormLstmDims, Lstm, LstmDims, Narx, NarxDims,
};
use recurrent::ndarray::Array3;
use recurrent::rand::RngExt;
use recurrent::Cell;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static WINDOW: AtomicBool = AtomicBool::new(false);

fn note_allocation() {
    if WINDOW.load(Ordering::Relaxed) {
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

/// The number of allocations on all threads while `f` runs (its result is dropped after
/// counting).
fn count_allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    WINDOW.store(true, Ordering::SeqCst);
    let result = std::hint::black_box(f());
    WINDOW.store(false, Ordering::SeqCst);
    (ALLOCATIONS.load(Ordering::SeqCst), result)
}

/// The sizes and sequence lengths measured at a thread count.
#[derive(Clone, Copy)]
struct Sizes {
    b: usize,
    i: usize,
    h: usize,
    steps: [usize; 3],
}

/// One thread: small sizes (the passes run the same code at any size).
const ONE_THREAD: Sizes = Sizes {
    b: 3,
    i: 8,
    h: 16,
    steps: [4, 40, 200],
};

/// Two threads: large enough for every split (see the module docs).
const TWO_THREADS: Sizes = Sizes {
    b: 128,
    i: 32,
    h: 128,
    steps: [4, 40, 100],
};

fn random3(shape: (usize, usize, usize), seed: u64) -> Array3<f32> {
    let mut rng = recurrent::seeded_rng(seed);
    Array3::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0))
}

/// Allocations of one `forward` and of one `backward` over `t` steps.
fn counts<C: Cell<f32>>(cell: &C, b: usize, t: usize) -> (usize, usize) {
    let x = random3((t, b, cell.input_size()), 1);
    let d_out = random3((t, b, cell.output_size()), 2);
    // Warm up: lazy one-time initialization (thread count, CPU feature detection, helper
    // threads) is not part of a call's cost, and the pool needs a call or two to settle on a
    // set of buffers that serves every request of a call of these sizes (it picks the smallest
    // idle buffer that fits, among what the previous calls left).
    for _ in 0..2 {
        let fwd = cell.forward(x.view(), None, None).unwrap();
        drop(cell.backward(&fwd, d_out.view(), None).unwrap());
        drop(fwd);
    }

    let (n_forward, fwd) = count_allocations(|| cell.forward(x.view(), None, None).unwrap());
    let (n_backward, grads) =
        count_allocations(|| cell.backward(&fwd, d_out.view(), None).unwrap());
    drop(grads);
    drop(fwd);
    (n_forward, n_backward)
}

/// Prints the counts at every T and returns a line per call that grew.
fn check<C: Cell<f32>>(name: &str, threads: usize, sizes: Sizes, cell: C) -> Vec<String> {
    let steps = sizes.steps;
    let counts: Vec<(usize, usize)> = steps.iter().map(|&t| counts(&cell, sizes.b, t)).collect();
    let forward: Vec<usize> = counts.iter().map(|c| c.0).collect();
    let backward: Vec<usize> = counts.iter().map(|c| c.1).collect();
    println!(
        "{name:<14} {threads} thread(s), T = {steps:?}: forward {forward:?}, backward {backward:?}"
    );
    let mut failures = vec![];
    for (what, n) in [("forward", &forward), ("backward", &backward)] {
        if n.iter().any(|&c| c != n[0]) {
            failures.push(format!(
                "{name}.{what} at {threads} thread(s): {n:?} allocations at T = {steps:?}"
            ));
        }
    }
    failures
}

#[test]
fn allocations_do_not_grow_with_sequence_length_on_any_thread() {
    // The counter sees every thread's allocations.
    let (n, v) = count_allocations(|| (0..10).map(|i| vec![i; 4]).collect::<Vec<_>>());
    assert_eq!(v.len(), 10);
    assert!(n >= 11, "10 vectors and their container, counted {n}");
    let (n_alloc, _) = count_allocations(|| {
        std::thread::spawn(|| (0..10).map(|i| vec![i; 4]).collect::<Vec<_>>())
            .join()
            .unwrap()
    });
    let (n_spawn_only, _) = count_allocations(|| std::thread::spawn(|| ()).join().unwrap());
    assert!(
        n_alloc >= n_spawn_only + 11,
        "another thread's allocations are counted: {n_alloc} vs {n_spawn_only}"
    );

    let mut failures = vec![];
    for (threads, sizes) in [(1, ONE_THREAD), (2, TWO_THREADS)] {
        recurrent::set_num_threads(threads);
        let Sizes { b, i, h, .. } = sizes;
        // At 2 threads, the fused loops do split their examples.
        assert_eq!(recurrent::__private::split_examples(b, b * h), threads >= 2);
        let mut rng = recurrent::seeded_rng(0);
        failures.extend(check(
            "Lstm",
            threads,
            sizes,
            Lstm::<f32>::new(LstmDims { I: i, H: h }, &mut rng),
        ));
        failures.extend(check(
            "Gru",
            threads,
            sizes,
            Gru::<f32>::new(GruDims { I: i, H: h }, &mut rng),
        ));
        failures.extend(check(
            "LayerNormLstm",
            threads,
            sizes,
            LayerNormLstm::<f32>::new(LayerNormLstmDims { I: i, H: h }, &mut rng),
        ));
        failures.extend(check(
            "Narx",
            threads,
            sizes,
            Narx::<f32>::new(NarxDims { I: i, H: h }, &mut rng),
        ));
    }
    assert!(
        failures.is_empty(),
        "allocations grow with T:\n{}",
        failures.join("\n")
    );
}
