//! The thread-count knob, and the fork-join the runtime's parallel loops and products run on.
//!
//! Set the thread count with [`set_num_threads`] or the `RNN_NUM_THREADS` environment variable
//! (read once, at the first use); the default is the number of cores.
//!
//! # Fork-join without allocation
//!
//! [`join`] runs its first closure on the calling thread and offers the second one to an idle
//! helper thread of the runtime (at most [`num_threads`]` - 1` of them, started on first need
//! and then kept, parked when there is no work). When every helper is busy (a nested `join`),
//! the second closure runs on the calling thread after the first. A `join` allocates nothing:
//! the job lives on the caller's stack and is handed over through a per-helper slot, and waking
//! and waiting use `Thread::unpark`/`park` after a short spin.
//!
//! This replaces `rayon::join`, which allocates when it is called from a thread that is not one
//! of rayon's workers (every user thread): each call pushes the job onto the global injector
//! queue, a `crossbeam_deque::Injector`, which allocates a new block for every 63 jobs. Called
//! once or more per time step, that made the allocations of a forward or backward pass grow with
//! the sequence length at 2 threads.

use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, Thread};

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

/// At most this many helper threads (a `join` from a thread count above `MAX_HELPERS + 1`
/// uses `MAX_HELPERS`).
const MAX_HELPERS: usize = 63;

/// Helper states: waiting for a job, claimed by a `join` (the job is being written), job
/// published, job finished.
const IDLE: u8 = 0;
const CLAIMED: u8 = 1;
const READY: u8 = 2;
const DONE: u8 = 3;

/// Spin iterations, then `yield_now` rounds, before a waiting thread parks.
const SPINS: u32 = 300;
const YIELDS: u32 = 32;

/// A type-erased pointer to a [`StackJob`] on the stack of the thread that called [`join`].
#[derive(Clone, Copy)]
struct JobRef {
    data: *const (),
    run: unsafe fn(*const ()),
}

struct Helper {
    state: AtomicU8,
    /// Written by the claiming `join` (state `CLAIMED`), taken by the helper (state `READY`).
    job: UnsafeCell<Option<JobRef>>,
    /// The thread to wake when the job is done; written and taken like `job`.
    waiter: UnsafeCell<Option<Thread>>,
    /// The helper thread itself (set before the helper is published).
    thread: OnceLock<Thread>,
}

// SAFETY: `job` and `waiter` are accessed only by the thread that owns the slot at the time:
// the `join` that claimed the helper (CAS `IDLE -> CLAIMED`, Acquire) until it publishes the job
// (`READY`, Release), then the helper thread (which saw `READY` with Acquire) until it stores
// `DONE` (Release), then the `join` again (which saw `DONE` with Acquire) until it stores `IDLE`
// (Release). Each hand-over is a release/acquire pair, so the accesses never overlap.
unsafe impl Sync for Helper {}

static HELPERS: [OnceLock<&'static Helper>; MAX_HELPERS] = [const { OnceLock::new() }; MAX_HELPERS];
static SPAWNING: Mutex<()> = Mutex::new(());

/// Helper `i`, started if it does not run yet (`None` if the thread cannot be started).
fn helper(i: usize) -> Option<&'static Helper> {
    if let Some(h) = HELPERS[i].get() {
        return Some(h);
    }
    let _guard = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(h) = HELPERS[i].get() {
        return Some(h);
    }
    let h: &'static Helper = Box::leak(Box::new(Helper {
        state: AtomicU8::new(IDLE),
        job: UnsafeCell::new(None),
        waiter: UnsafeCell::new(None),
        thread: OnceLock::new(),
    }));
    let handle = thread::Builder::new()
        .name(format!("rnn-worker-{i}"))
        .spawn(move || helper_loop(h))
        .ok()?;
    let _ = h.thread.set(handle.thread().clone());
    let _ = HELPERS[i].set(h);
    Some(h)
}

/// Waits until `cond` holds: a short spin, a few yields, then parking (the other side always
/// unparks this thread after making `cond` true).
#[inline]
fn wait_until(cond: impl Fn() -> bool) {
    let mut rounds = 0u32;
    while !cond() {
        if rounds < SPINS {
            std::hint::spin_loop();
        } else if rounds < SPINS + YIELDS {
            thread::yield_now();
        } else {
            thread::park();
        }
        rounds = rounds.saturating_add(1);
    }
}

fn helper_loop(h: &'static Helper) {
    loop {
        wait_until(|| h.state.load(Ordering::Acquire) == READY);
        // SAFETY: state READY: this thread owns `job` and `waiter` (see `impl Sync`).
        let (job, waiter) = unsafe { ((*h.job.get()).take(), (*h.waiter.get()).take()) };
        if let Some(job) = job {
            // SAFETY: the `join` that published the job waits for `DONE` before its stack frame
            // (which holds the job) ends; `run` catches panics.
            unsafe { (job.run)(job.data) };
        }
        h.state.store(DONE, Ordering::Release);
        if let Some(w) = waiter {
            w.unpark();
        }
    }
}

/// A job on the stack of `join`'s caller: the closure, then its result.
struct StackJob<B, R> {
    f: UnsafeCell<Option<B>>,
    result: UnsafeCell<Option<thread::Result<R>>>,
}

impl<B: FnOnce() -> R, R> StackJob<B, R> {
    /// # Safety
    /// `data` points to a live `StackJob<B, R>` that no other thread accesses until this returns.
    unsafe fn run(data: *const ()) {
        let job = unsafe { &*(data as *const Self) };
        let f = unsafe { (*job.f.get()).take() };
        if let Some(f) = f {
            let r = panic::catch_unwind(AssertUnwindSafe(f));
            unsafe { *job.result.get() = Some(r) };
        }
    }
}

/// Claims an idle helper among the first `n`, starting helpers as needed.
fn claim(n: usize) -> Option<&'static Helper> {
    (0..n.min(MAX_HELPERS)).find_map(|i| {
        let h = helper(i)?;
        h.state
            .compare_exchange(IDLE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then_some(h)
    })
}

/// Runs `a` and `b`, in parallel when a helper thread is idle (see the docs of the runtime's
/// `threads` module), and returns both results. Allocates nothing (after the helper threads have
/// started). A panic of either closure is resumed on the calling thread after both have
/// finished.
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let threads = num_threads();
    let Some(h) = (if threads >= 2 {
        claim(threads - 1)
    } else {
        None
    }) else {
        let ra = a();
        return (ra, b());
    };
    let job = StackJob::<B, RB> {
        f: UnsafeCell::new(Some(b)),
        result: UnsafeCell::new(None),
    };
    // SAFETY: state CLAIMED: this thread owns `job` and `waiter` (see `impl Sync`).
    unsafe {
        *h.job.get() = Some(JobRef {
            data: &job as *const StackJob<B, RB> as *const (),
            run: StackJob::<B, RB>::run,
        });
        *h.waiter.get() = Some(thread::current());
    }
    h.state.store(READY, Ordering::Release);
    if let Some(t) = h.thread.get() {
        t.unpark();
    }
    // Whatever `a` does, wait for the helper before `job` goes out of scope.
    let ra = panic::catch_unwind(AssertUnwindSafe(a));
    wait_until(|| h.state.load(Ordering::Acquire) == DONE);
    h.state.store(IDLE, Ordering::Release);
    let rb = job
        .result
        .into_inner()
        .expect("the helper ran the job to completion");
    match (ra, rb) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(p), _) | (_, Err(p)) => panic::resume_unwind(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_runs_both_sides_and_nests() {
        set_num_threads(3);
        let (a, (b, c)) = join(|| 1, || join(|| 2, || 3));
        assert_eq!((a, b, c), (1, 2, 3));
        let mut v = vec![0u64; 1000];
        let (l, r) = v.split_at_mut(500);
        join(
            || l.iter_mut().for_each(|x| *x = 1),
            || r.iter_mut().for_each(|x| *x = 2),
        );
        assert_eq!(v.iter().sum::<u64>(), 1500);
        for i in 0..10_000u64 {
            let (x, y) = join(|| i, || i * 2);
            assert_eq!(x + y, 3 * i);
        }
    }

    #[test]
    fn a_panic_on_either_side_reaches_the_caller_after_both_finish() {
        set_num_threads(2);
        let r = panic::catch_unwind(|| join(|| 1, || -> i32 { panic!("right") }));
        assert!(r.is_err());
        let r = panic::catch_unwind(|| join(|| -> i32 { panic!("left") }, || 2));
        assert!(r.is_err());
        // The helper is usable again.
        assert_eq!(join(|| 5, || 6), (5, 6));
    }
}
