//! A per-thread pool of the large buffers a forward and a backward pass need, so that a training
//! loop reuses the same memory at every iteration instead of mapping fresh pages (and faulting
//! them in) for tens of megabytes per call.
//!
//! # Memory policy
//!
//! Each thread has its own pool of idle `Vec<f32>` and `Vec<f64>` buffers. A pass takes its
//! buffers from the pool of the thread it runs on; a buffer goes back to the pool of the thread
//! that drops it (the end of the pass, or the drop of the [`Trace`](crate::Trace) that holds the
//! saved values of a forward pass for its backward pass).
//!
//! The pool keeps count of the bytes *checked out* of it (taken and not yet returned, including
//! the buffers held by live traces). When that count falls back to zero, the pool is idle: *a
//! call* has ended (typically one forward and its backward, or several layers' forwards and
//! backwards whose traces overlap). At that moment the pool keeps:
//!
//! - every buffer that call used (all of them have come back), so repeating a call of the same
//!   sizes allocates nothing, and
//! - at most [`SLACK`] (64 MiB) of older idle buffers, the most recently returned first;
//!
//! and frees the rest. So after a call the pool retains at most what that call used plus 64 MiB,
//! and a smaller call pattern after a large one gives the large buffers back to the allocator.
//! While a call runs (the pool is not idle), the idle buffers are bounded too: by the larger of
//! the bytes the previous call kept and the most bytes checked out at once since the pool was
//! last idle, plus 64 MiB (the oldest go first). There are also at most 256 idle buffers per
//! thread.
//!
//! [`release_pooled_memory`] frees the idle buffers of every thread's pool at once (for example
//! after a one-off large call, whose buffers the policy above keeps for a repetition). A thread's
//! pool is freed when the thread exits.
//!
//! A trace dropped on another thread than the one that ran its forward pass returns its buffers
//! to the dropping thread's pool; the forward's thread then never sees those bytes come back, so
//! its pool is idle less often (its bound while not idle still applies, with a peak that
//! includes the bytes that left).

use std::any::Any;
use std::sync::{Arc, Mutex, Weak};

use crate::kernels::float::Float;

/// The older idle buffers kept when a call ends, in bytes.
pub const SLACK: usize = 64 << 20;

/// At most this many idle buffers are kept per thread (a pool is scanned linearly).
const MAX_IDLE: usize = 256;

enum Storage {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Storage {
    fn vec_mut<F: Float>(&mut self) -> Option<&mut Vec<F>> {
        let v: &mut dyn Any = match self {
            Storage::F32(v) => v,
            Storage::F64(v) => v,
        };
        v.downcast_mut::<Vec<F>>()
    }

    fn from_vec<F: Float>(v: Vec<F>) -> Option<Storage> {
        let mut v = Some(v);
        let any: &mut dyn Any = &mut v;
        if let Some(v) = any.downcast_mut::<Option<Vec<f32>>>() {
            return v.take().map(Storage::F32);
        }
        any.downcast_mut::<Option<Vec<f64>>>()
            .and_then(Option::take)
            .map(Storage::F64)
    }
}

struct Entry {
    buf: Storage,
    bytes: usize,
    /// The call during which the buffer came back.
    epoch: u64,
    /// The order in which buffers came back.
    seq: u64,
}

struct Pool {
    idle: Vec<Entry>,
    idle_bytes: usize,
    /// Bytes taken from this pool and not returned to it.
    out: usize,
    /// The most bytes checked out at once since the pool was last idle.
    peak: usize,
    /// The bytes of the buffers the last call used (kept when it ended).
    prev_used: usize,
    epoch: u64,
    seq: u64,
    /// The f32 packing buffers of the GEMM ([`with_scratch`]): kept between calls, never
    /// zeroed, freed by [`release_pooled_memory`].
    scratch: Vec<f32>,
}

impl Pool {
    fn new() -> Pool {
        Pool {
            // Never grows: pushing an entry must not allocate inside a pass.
            idle: Vec::with_capacity(MAX_IDLE + 1),
            idle_bytes: 0,
            out: 0,
            peak: 0,
            prev_used: 0,
            epoch: 0,
            seq: 0,
            scratch: Vec::new(),
        }
    }

    fn take<F: Float>(&mut self, len: usize) -> Option<Vec<F>> {
        // The smallest buffer that fits, and not one more than twice too large (which a later,
        // larger request would then miss).
        let best = self
            .idle
            .iter_mut()
            .enumerate()
            .filter_map(|(i, e)| e.buf.vec_mut::<F>().map(|v| (i, v.capacity())))
            .filter(|&(_, cap)| cap >= len && cap <= 2 * len.max(1024))
            .min_by_key(|&(_, cap)| cap)
            .map(|(i, _)| i)?;
        let mut e = self.idle.swap_remove(best);
        self.idle_bytes -= e.bytes;
        e.buf.vec_mut::<F>().map(std::mem::take)
    }

    fn checked_out(&mut self, bytes: usize) {
        self.out += bytes;
        self.peak = self.peak.max(self.out);
    }

    fn give<F: Float>(&mut self, v: Vec<F>) {
        let bytes = v.capacity() * std::mem::size_of::<F>();
        self.out = self.out.saturating_sub(bytes);
        if let Some(buf) = Storage::from_vec(v) {
            self.idle.push(Entry {
                buf,
                bytes,
                epoch: self.epoch,
                seq: self.seq,
            });
            self.seq += 1;
            self.idle_bytes += bytes;
        }
        if self.out == 0 {
            self.end_call();
        } else {
            self.trim_oldest(self.prev_used.max(self.peak) + SLACK);
        }
    }

    /// The pool is idle: keep the buffers of the call that just ended and at most `SLACK`
    /// bytes of older ones (most recent first).
    fn end_call(&mut self) {
        let epoch = self.epoch;
        self.idle.sort_unstable_by_key(|e| std::cmp::Reverse(e.seq));
        let (mut used, mut older) = (0, 0);
        self.idle.retain(|e| {
            if e.epoch == epoch {
                used += e.bytes;
                true
            } else {
                older += e.bytes;
                older <= SLACK
            }
        });
        self.idle_bytes = self.idle.iter().map(|e| e.bytes).sum();
        self.prev_used = used;
        self.epoch += 1;
        self.peak = 0;
        self.trim_oldest(usize::MAX);
    }

    /// Frees the least recently returned buffers until at most `limit` bytes and `MAX_IDLE`
    /// buffers are idle.
    fn trim_oldest(&mut self, limit: usize) {
        if self.idle_bytes <= limit && self.idle.len() <= MAX_IDLE {
            return;
        }
        self.idle.sort_unstable_by_key(|e| e.seq);
        let mut n = 0;
        while n < self.idle.len() && (self.idle_bytes > limit || self.idle.len() - n > MAX_IDLE) {
            self.idle_bytes -= self.idle[n].bytes;
            n += 1;
        }
        self.idle.drain(..n);
    }

    fn release(&mut self) -> usize {
        let freed = self.idle_bytes + self.scratch.capacity() * std::mem::size_of::<f32>();
        self.idle.clear();
        self.idle_bytes = 0;
        self.scratch = Vec::new();
        freed
    }
}

/// Every thread's pool, to release them all.
static POOLS: Mutex<Vec<Weak<Mutex<Pool>>>> = Mutex::new(Vec::new());

fn register() -> Arc<Mutex<Pool>> {
    let pool = Arc::new(Mutex::new(Pool::new()));
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    pools.retain(|p| p.strong_count() > 0);
    pools.push(Arc::downgrade(&pool));
    pool
}

thread_local! {
    static POOL: Arc<Mutex<Pool>> = register();
}

/// Runs `f` on this thread's pool; `None` while the thread shuts down (its pool is gone).
fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> Option<R> {
    POOL.try_with(|p| {
        let mut pool = p.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut pool)
    })
    .ok()
}

/// A zeroed vector of `len` entries, reusing a pooled allocation when one is large enough.
pub fn take<F: Float>(len: usize) -> Vec<F> {
    take_with(len, true)
}

/// A vector of `len` entries, reusing a pooled allocation when one is large enough; with
/// `zero`, every entry is zero, otherwise a reused allocation keeps the values a previous
/// buffer left in it (a fresh one is zeroed by the allocator).
fn take_with<F: Float>(len: usize, zero: bool) -> Vec<F> {
    let reused = with_pool(|pool| pool.take::<F>(len)).flatten();
    let v = match reused {
        Some(mut v) => {
            if zero {
                v.clear();
            } else {
                v.truncate(len);
            }
            v.resize(len, F::zero());
            v
        }
        None => vec![F::zero(); len],
    };
    let bytes = v.capacity() * std::mem::size_of::<F>();
    with_pool(|pool| pool.checked_out(bytes));
    v
}

/// Runs `f` on this thread's f32 scratch memory, at least `len` values that keep whatever the
/// last user left (grown when too short, so a thread allocates it once for a given size): the
/// packing buffers of the GEMM. [`release_pooled_memory`] frees it with the idle buffers. While
/// the thread shuts down (its pool gone), `f` gets a fresh vector.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut f = Some(f);
    let result = with_pool(|pool| {
        if pool.scratch.len() < len {
            pool.scratch.resize(len, 0.0);
        }
        (f.take().expect("called once"))(&mut pool.scratch[..len])
    });
    match result {
        Some(r) => r,
        None => (f.take().expect("not called"))(&mut vec![0.0; len]),
    }
}

/// Returns a vector to the pool.
pub fn give<F: Float>(v: Vec<F>) {
    if v.capacity() == 0 {
        return;
    }
    // Dropped (freed) if the pool is gone.
    let _ = with_pool(|pool| pool.give(v));
}

/// Frees the idle buffers of every thread's buffer pool and returns their size in bytes.
///
/// The runtime keeps the large buffers of forward and backward passes in a pool per thread and
/// reuses them at the next call. After a call, a pool keeps what that call used plus at most
/// 64 MiB of older buffers, so memory follows the size of the recent calls (a smaller call after
/// a large one gives the difference back) while repeated calls of one size allocate nothing.
/// This function returns all idle pooled memory at once, on all threads, for example after a
/// one-off long sequence. Buffers in use at that moment (a pass running on another thread, or
/// held by a live [`Trace`](crate::Trace)) are not affected; they return to their pool when
/// released and stay subject to its bound.
pub fn release_pooled_memory() -> usize {
    let pools: Vec<Arc<Mutex<Pool>>> = POOLS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    pools
        .iter()
        .map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).release())
        .sum()
}

/// A pooled buffer: a zeroed `Vec<F>` that goes back to the pool when dropped.
#[derive(Debug)]
pub struct Buffer<F: Float>(Vec<F>);

impl<F: Float> Buffer<F> {
    /// `len` zeros.
    pub fn zeroed(len: usize) -> Self {
        Buffer(take(len))
    }

    /// `len` values, not zeroed when the pool reuses an allocation (they are what an earlier
    /// buffer left): for a buffer that is written entirely before it is read, such as the
    /// output of a product with `beta = 0`. Saves the memset of a zeroed buffer.
    pub fn for_overwrite(len: usize) -> Self {
        Buffer(take_with(len, false))
    }

    /// `len` zeros in fresh memory, for a buffer that will be handed to the user (outputs,
    /// input gradients): taking it from the pool would drain the pool at every call.
    pub fn unpooled(len: usize) -> Self {
        Buffer(vec![F::zero(); len])
    }

    /// The vector, no longer returned to the pool on drop (it is handed to a `Trace`, which
    /// returns it when dropped).
    pub fn into_vec(mut self) -> Vec<F> {
        std::mem::take(&mut self.0)
    }
}

impl<F: Float> std::ops::Deref for Buffer<F> {
    type Target = [F];
    fn deref(&self) -> &[F] {
        &self.0
    }
}

impl<F: Float> std::ops::DerefMut for Buffer<F> {
    fn deref_mut(&mut self) -> &mut [F] {
        &mut self.0
    }
}

impl<F: Float> Drop for Buffer<F> {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Held by every test here: `release_pooled_memory` empties every thread's pool.
    static SERIAL: Mutex<()> = Mutex::new(());

    /// The idle bytes of this thread's pool.
    fn idle_bytes() -> usize {
        with_pool(|p| p.idle_bytes).unwrap()
    }

    #[test]
    fn buffers_are_zeroed_and_reused() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut b = Buffer::<f32>::zeroed(1000);
        b[3] = 5.0;
        let ptr = b.as_ptr();
        drop(b);
        let c = Buffer::<f32>::zeroed(800);
        assert_eq!(c.as_ptr(), ptr, "the allocation is reused");
        assert!(c.iter().all(|&v| v == 0.0));
        assert_eq!(c.len(), 800);
    }

    #[test]
    fn a_smaller_call_after_a_large_one_gives_the_memory_back() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        std::thread::spawn(|| {
            const MB: usize = 1 << 20;
            // A large call: 200 MiB in 4 buffers of f64, out at once.
            let large: Vec<Buffer<f64>> = (0..4).map(|_| Buffer::zeroed(50 * MB / 8)).collect();
            drop(large);
            assert_eq!(idle_bytes(), 200 * MB, "the call's buffers are kept");
            // The same call again reuses them all.
            let again: Vec<Buffer<f64>> = (0..4).map(|_| Buffer::zeroed(50 * MB / 8)).collect();
            assert_eq!(idle_bytes(), 0);
            drop(again);
            // A small call (f32, 1 MiB): the large buffers beyond 64 MiB go.
            drop(Buffer::<f32>::zeroed(MB / 4));
            assert!(
                idle_bytes() <= MB + SLACK,
                "{} bytes idle after a 1 MiB call",
                idle_bytes()
            );
            assert!(idle_bytes() >= MB);
            let idle = idle_bytes();
            assert!(release_pooled_memory() >= idle);
            assert_eq!(idle_bytes(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn release_frees_other_threads_pools() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            drop(Buffer::<f32>::zeroed(1 << 20));
            ready_tx.send(idle_bytes()).unwrap();
            done_rx.recv().unwrap();
            idle_bytes()
        });
        assert_eq!(ready_rx.recv().unwrap(), 4 << 20);
        assert!(release_pooled_memory() >= 4 << 20);
        done_tx.send(()).unwrap();
        assert_eq!(t.join().unwrap(), 0);
    }

    #[test]
    fn overlapping_calls_reach_a_steady_state() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        std::thread::spawn(|| {
            const MB: usize = 1 << 20;
            // The trace of one call is dropped after the next call took its buffers: the pool
            // never goes idle, and what it keeps does not grow.
            let mut held = Buffer::<f32>::zeroed(MB);
            let mut sizes = vec![];
            for _ in 0..50 {
                let next = Buffer::<f32>::zeroed(MB);
                drop(Buffer::<f64>::zeroed(3 * MB));
                held = next;
                sizes.push(idle_bytes());
            }
            assert!(sizes[1..].iter().all(|&s| s == sizes[1]), "{sizes:?}");
            drop(held);
        })
        .join()
        .unwrap();
    }
}
