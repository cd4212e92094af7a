//! A per-thread pool of the large buffers a forward and a backward pass need, so that a training
//! loop reuses the same memory at every iteration instead of mapping fresh pages (and faulting
//! them in) for tens of megabytes per call.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

use crate::Float;

/// At most this many idle buffers are kept per thread and float type.
const MAX_IDLE: usize = 256;

thread_local! {
    static POOL_F32: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
    static POOL_F64: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
}

fn run<F: Float, T: 'static, R>(
    pool: &RefCell<Vec<Vec<T>>>,
    f: impl FnOnce(&mut Vec<Vec<F>>) -> R,
) -> Option<R> {
    let mut pool = pool.try_borrow_mut().ok()?;
    let pool: &mut dyn Any = &mut *pool;
    pool.downcast_mut::<Vec<Vec<F>>>().map(f)
}

fn with_pool<F: Float, R>(f: impl FnOnce(&mut Vec<Vec<F>>) -> R) -> Option<R> {
    if TypeId::of::<F>() == TypeId::of::<f32>() {
        POOL_F32.try_with(|p| run(p, f)).ok().flatten()
    } else if TypeId::of::<F>() == TypeId::of::<f64>() {
        POOL_F64.try_with(|p| run(p, f)).ok().flatten()
    } else {
        None
    }
}

/// A zeroed vector of `len` entries, reusing a pooled allocation when one is large enough.
pub fn take<F: Float>(len: usize) -> Vec<F> {
    let reused = with_pool::<F, _>(|pool| {
        // The smallest buffer that fits, and not one more than twice too large (which a later,
        // larger request would then miss).
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len && v.capacity() <= 2 * len.max(1024))
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i)?;
        Some(pool.swap_remove(best))
    })
    .flatten();
    match reused {
        Some(mut v) => {
            v.clear();
            v.resize(len, F::zero());
            v
        }
        None => vec![F::zero(); len],
    }
}

/// Returns a vector to the pool.
pub fn give<F: Float>(v: Vec<F>) {
    if v.capacity() == 0 {
        return;
    }
    let _ = with_pool::<F, _>(|pool| {
        if pool.len() < MAX_IDLE {
            pool.push(v);
        }
    });
}

/// A pooled buffer: a zeroed `Vec<F>` that goes back to the pool when dropped.
#[derive(Debug)]
pub struct Buffer<F: Float>(Vec<F>);

impl<F: Float> Buffer<F> {
    /// `len` zeros.
    pub fn zeroed(len: usize) -> Self {
        Buffer(take(len))
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

impl<F: Float> Deref for Buffer<F> {
    type Target = [F];
    fn deref(&self) -> &[F] {
        &self.0
    }
}

impl<F: Float> DerefMut for Buffer<F> {
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

    #[test]
    fn buffers_are_zeroed_and_reused() {
        let mut b = Buffer::<f32>::zeroed(1000);
        b[3] = 5.0;
        let ptr = b.as_ptr();
        drop(b);
        let c = Buffer::<f32>::zeroed(800);
        assert_eq!(c.as_ptr(), ptr, "the allocation is reused");
        assert!(c.iter().all(|&v| v == 0.0));
        assert_eq!(c.len(), 800);
    }
}
