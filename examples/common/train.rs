//! The examples' optimization: Adam with a cosine-annealed learning rate after clipping the
//! gradients' global norm, and the running mean of the training loss their curves show.

use recurrent::train::{clip_grad_norm, Adam, Optimizer, Schedule};
use recurrent::Parameters;

/// Adam whose learning rate anneals from `lr` to `min_lr` over `total` updates (cosine), each
/// update clipping the gradients' global norm to `clip` first.
pub struct Trainer {
    adam: Adam<f32>,
    schedule: Schedule,
    lr: f64,
    clip: f32,
    updates: usize,
}

impl Trainer {
    /// Anneals from `lr` to `min_lr` over `total` updates, clipping gradient norms to `clip`.
    pub fn cosine(lr: f64, min_lr: f64, total: usize, clip: f32) -> Self {
        Trainer {
            adam: Adam::new(lr as f32),
            schedule: Schedule::Cosine { total, min_lr },
            lr,
            clip,
            updates: 0,
        }
    }

    /// Adds Adam's L2 weight decay.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.adam = self.adam.with_weight_decay(weight_decay as f32);
        self
    }

    /// One update of `model` from `grads` (clipped in place).
    pub fn step(
        &mut self,
        model: &mut dyn Parameters<f32>,
        grads: &mut dyn Parameters<f32>,
    ) -> recurrent::Result<()> {
        clip_grad_norm(grads, self.clip)?;
        self.schedule.apply(&mut self.adam, self.lr, self.updates);
        self.adam.step(model, grads)?;
        self.updates += 1;
        Ok(())
    }

    /// Updates made so far.
    pub fn updates(&self) -> usize {
        self.updates
    }
}

/// The running mean of the training loss (`0.95 mean + 0.05 loss`, starting at the first loss),
/// recorded every `every` updates as a training curve.
#[derive(Debug, Clone)]
pub struct RunningLoss {
    mean: Option<f64>,
    every: usize,
    curve: Vec<(f64, f64)>,
}

impl RunningLoss {
    /// Records a point every `every` updates.
    pub fn new(every: usize) -> Self {
        RunningLoss {
            mean: None,
            every,
            curve: Vec::new(),
        }
    }

    /// Adds the loss of update `n` (counted from 1); returns the running mean when this update's
    /// point is recorded.
    pub fn add(&mut self, n: usize, loss: f64) -> Option<f64> {
        let mean = self.mean.map_or(loss, |r| 0.95 * r + 0.05 * loss);
        self.mean = Some(mean);
        if n.is_multiple_of(self.every) {
            self.curve.push((n as f64, mean));
            Some(mean)
        } else {
            None
        }
    }

    /// The recorded (update, running mean) points.
    pub fn curve(self) -> Vec<(f64, f64)> {
        self.curve
    }
}

/// The number of trainable values of `model`.
pub fn parameter_count(model: &dyn Parameters<f32>) -> usize {
    model.tensors().iter().map(|(_, v)| v.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_loss_is_recorded_every_nth_update() {
        let mut running = RunningLoss::new(2);
        assert_eq!(running.add(1, 1.0), None);
        assert_eq!(running.add(2, 3.0), Some(0.95 + 0.05 * 3.0));
        assert_eq!(running.add(3, 0.0), None);
        let curve = running.curve();
        assert_eq!(curve, [(2.0, 0.95 + 0.05 * 3.0)]);
    }
}
