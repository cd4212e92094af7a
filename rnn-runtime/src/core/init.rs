use ndarray::{Array2, ArrayD, IxDyn};
use rand::{Rng, RngExt};

use crate::kernels::float::Float;

/// How a parameter is initialized, as written after `=` in its declaration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// No initializer given: PyTorch's default, uniform on `[-1/sqrt(n), 1/sqrt(n)]` with `n`
    /// the parameter's last dimension.
    Default,
    /// Every entry equal to the constant (`= 1.0`).
    Constant(f64),
    /// `= zeros`.
    Zeros,
    /// `= ones`.
    Ones,
    /// `= uniform(a)`: uniform on `[-a, a]`.
    Uniform(f64),
    /// `= xavier`: Glorot uniform, `a = sqrt(6 / (fan_in + fan_out))`; a vector `[D]` uses
    /// `fan_in = fan_out = D`.
    Xavier,
    /// `= orthogonal`: a matrix with orthonormal rows or columns (whichever are fewer), from the
    /// QR decomposition of a Gaussian matrix, as `torch.nn.init.orthogonal_`.
    Orthogonal,
}

impl Init {
    /// Samples a tensor of `shape` (`[D]` or `[R, C]`).
    pub fn sample<F: Float>(self, shape: &[usize], rng: &mut dyn Rng) -> ArrayD<F> {
        let n = shape.iter().product::<usize>();
        let last = shape.last().copied().unwrap_or(1).max(1) as f64;
        let uniform = |a: f64, rng: &mut dyn Rng| -> ArrayD<F> {
            let data = (0..n)
                .map(|_| F::from_f64(rng.random_range(-1.0..=1.0) * a))
                .collect();
            ArrayD::from_shape_vec(IxDyn(shape), data).expect("length matches shape")
        };
        match self {
            Init::Default => uniform(1.0 / last.sqrt(), rng),
            Init::Constant(c) => ArrayD::from_elem(IxDyn(shape), F::from_f64(c)),
            Init::Zeros => ArrayD::zeros(IxDyn(shape)),
            Init::Ones => ArrayD::ones(IxDyn(shape)),
            Init::Uniform(a) => uniform(a, rng),
            Init::Xavier => {
                let (fan_in, fan_out) = match shape {
                    [r, c] => (*r as f64, *c as f64),
                    _ => (last, last),
                };
                uniform((6.0 / (fan_in + fan_out).max(1.0)).sqrt(), rng)
            }
            Init::Orthogonal => match shape {
                [r, c] => orthogonal(*r, *c, rng).into_dyn(),
                _ => uniform(1.0 / last.sqrt(), rng),
            },
        }
    }
}

/// A standard normal sample by Box–Muller (keeps `rand_distr` out of the dependency tree).
fn normal(rng: &mut dyn Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `[rows, cols]` with orthonormal columns (rows >= cols) or rows (rows < cols): modified
/// Gram–Schmidt on a Gaussian matrix, with the sign convention of QR (`diag(R) > 0`).
fn orthogonal<F: Float>(rows: usize, cols: usize, rng: &mut dyn Rng) -> Array2<F> {
    let (long, short) = if rows >= cols {
        (rows, cols)
    } else {
        (cols, rows)
    };
    // `basis[k]` is the k-th orthonormal vector of length `long`.
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(short);
    while basis.len() < short {
        let mut v: Vec<f64> = (0..long).map(|_| normal(rng)).collect();
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-8 {
            v.iter_mut().for_each(|x| *x /= norm);
            basis.push(v);
        }
    }
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        let value = if rows >= cols {
            basis[c][r]
        } else {
            basis[r][c]
        };
        F::from_f64(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn orthogonal_has_orthonormal_columns() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(7);
        let q: ArrayD<f64> = Init::Orthogonal.sample(&[6, 4], &mut rng);
        let q = q.into_dimensionality::<ndarray::Ix2>().unwrap();
        let gram = q.t().dot(&q);
        for ((i, j), v) in gram.indexed_iter() {
            let expected = if i == j { 1.0 } else { 0.0 };
            assert!((v - expected).abs() < 1e-12, "gram[{i},{j}] = {v}");
        }
    }

    #[test]
    fn default_init_is_bounded_by_inverse_sqrt_of_last_dim() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
        let w: ArrayD<f64> = Init::Default.sample(&[3, 16], &mut rng);
        assert!(w.iter().all(|v| v.abs() <= 0.25));
        assert!(w.iter().any(|v| v.abs() > 0.1));
    }
}
