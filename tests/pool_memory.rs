//! The buffer pool gives memory back: after a call it keeps at most what that call used plus
//! 64 MiB, so a small call after a large one frees the large call's buffers, and
//! `recurrent::release_pooled_memory` frees every thread's idle buffers.
//!
//! A counting global allocator tracks the live heap bytes of the process. The tests of this
//! file measure one at a time, each on a thread of its own whose pool is gone before the next
//! one starts (the harness's own allocations are a few KiB, far below the tolerances).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Mutex;

use recurrent::cells::{Lstm, LstmDims};
use recurrent::ndarray::Array3;
use recurrent::rand::RngExt;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: every call is forwarded unchanged to `System`; the counting neither allocates nor
// touches the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MIB: isize = 1 << 20;
const SLACK: isize = 64 * MIB;
/// Bookkeeping that may stay allocated besides the pooled buffers (a thread's pool registry
/// entry and index, the harness).
const TOLERANCE: isize = MIB;

fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

fn random3(shape: (usize, usize, usize), seed: u64) -> Array3<f32> {
    let mut rng = recurrent::seeded_rng(seed);
    Array3::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0))
}

/// The LSTM of the issue (B 1, H 32; I 8).
fn lstm() -> Lstm<f32> {
    Lstm::new(LstmDims { I: 8, H: 32 }, &mut recurrent::seeded_rng(0))
}

/// One training call over `t` steps: forward, backward, everything dropped.
fn call(cell: &Lstm<f32>, t: usize) {
    let x = random3((t, 1, 8), 1);
    let d_out = random3((t, 1, 32), 2);
    let fwd = cell.forward(x.view(), None, None).unwrap();
    let grads = cell.backward(&fwd, d_out.view(), None).unwrap();
    drop((grads, fwd));
}

const LARGE: usize = 100_000;
const SMALL: usize = 1_000;

/// Runs `f` on a new thread while holding the lock: the thread's pool is freed (at its exit)
/// before the next test measures, even if `f` panics.
fn serial(f: impl FnOnce() + Send + 'static) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(panic) = std::thread::spawn(f).join() {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn a_small_call_after_a_large_one_gives_the_memory_back() {
    serial(small_after_large);
}

fn small_after_large() {
    recurrent::set_num_threads(1);
    let cell = lstm();

    // What the small call leaves in a fresh thread's pool: what it used.
    let small_kept = std::thread::scope(|s| {
        s.spawn(|| {
            let before = live();
            call(&cell, SMALL);
            live() - before
        })
        .join()
        .unwrap()
    });

    let before = live();
    call(&cell, LARGE);
    let after_large = live() - before;
    call(&cell, SMALL);
    let after_small = live() - before;
    call(&cell, SMALL);
    let after_second_small = live() - before;
    println!(
        "live bytes kept by the pool: small call alone {small_kept}, after a large call \
         {after_large}, then a small call {after_small}, another {after_second_small}"
    );
    // The large call needs far more than the slack, or the test proves nothing.
    assert!(after_large > 4 * SLACK, "{after_large}");
    assert!(
        after_small <= small_kept + SLACK + TOLERANCE,
        "after a small call the pool keeps {after_small} bytes, more than the small call's \
         {small_kept} plus 64 MiB"
    );
    assert!(after_second_small <= small_kept + SLACK + TOLERANCE);
    drop(cell);
    recurrent::release_pooled_memory();
}

#[test]
fn release_pooled_memory_frees_every_threads_pool() {
    serial(release_on_all_threads);
}

fn release_on_all_threads() {
    recurrent::set_num_threads(1);
    let cell = lstm();
    let before = live();
    let (ran_tx, ran_rx) = std::sync::mpsc::channel();
    let (exit_tx, exit_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        // Dropped when this closure returns or unwinds: the other thread then exits.
        let _exit_tx = exit_tx;
        // Another thread runs a large call and stays alive with its pool.
        let cell = &cell;
        s.spawn(move || {
            call(cell, LARGE);
            ran_tx.send(()).unwrap();
            let _ = exit_rx.recv();
        });
        // And so does this one.
        call(cell, LARGE);
        ran_rx.recv().unwrap();
        let pooled = live() - before;
        assert!(pooled > 8 * SLACK, "two large calls keep {pooled} bytes");
        let released = recurrent::release_pooled_memory();
        let left = live() - before;
        println!("pooled {pooled} bytes, released {released}, left {left}");
        assert!(released as isize >= pooled - TOLERANCE);
        assert!(
            left <= TOLERANCE,
            "{left} bytes left after release_pooled_memory"
        );
    });
}
