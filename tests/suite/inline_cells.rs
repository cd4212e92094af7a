//! Cells defined inline in a test file, gradient-checked with the user-facing one-liner. They
//! exercise what the built-in cells do not: delays beyond one step (with history), an input
//! read at `t-1`, every function of the language, division, products of in-step values, a
//! state read at `[t]` by another state, an output that is neither a state nor the first one,
//! and a cell that finds the runtime through a re-export (`crate = path;`).

use recurrent::{assert_gradcheck, rnn_cell};

rnn_cell! {
    /// A NARX-style cell: reads x[t], x[t-1], h[t-1] and h[t-2].
    cell Narx {
        input x: [I];
        state h: [H];
        param W_0, W_1: [I, H];
        param U_1, U_2: [H, H];
        param b: [H];

        h[t] = tanh(x[t] @ W_0 + x[t-1] @ W_1 + h[t-1] @ U_1 + h[t-2] @ U_2 + b);
    }
}

rnn_cell! {
    /// Every function and operator of the language, two states, a chain of three GEMM stages
    /// and an output with its own size.
    cell Zoo {
        input x: [I];
        state h: [H];
        state s: [H];
        param W: [I, H];
        param U: [H, H];
        param V: [H, H];
        param P: [H, O];
        param a, c: [H];
        param d: [H] = 0.5;

        pre = x[t] @ W + h[t-1] @ U + a;
        g = sigmoid(pre) * softsign(pre) + hard_sigmoid(2 * pre) - relu(pre - 0.1);
        pos = exp(-pre * pre) + 1.5;
        k = log(pos) / sqrt(pos) + c * g;
        m = (k * s[t-1]) @ V;
        s[t] = -tanh(m + d) / (2 + softsign(k));
        h[t] = 0.5 * h[t-1] + 0.5 * tanh(s[t] * g + k);
        y = (h[t] - s[t]) @ P;

        output y;
    }
}

rnn_cell! {
    /// Equations written in reverse order, a peephole on the new cell state, a delay of three.
    cell Backwards {
        input x: [I];
        state h: [H], c: [H];
        param W_c, W_o: [I, H];
        param U_c: [H, H];
        param V_o: [H];

        h[t] = o * tanh(c[t]);
        o = sigmoid(x[t] @ W_o + V_o * c[t]);
        c[t] = 0.5 * c[t-3] + tanh(x[t] @ W_c + h[t-1] @ U_c);
    }
}

#[test]
fn narx_gradients_including_history() {
    let report = assert_gradcheck::<Narx<f64>>(NarxDims { I: 3, H: 4 });
    // Parameters, inputs, h_0, one history entry h_{-2} and one input history entry x_{-1}.
    assert_eq!(
        report.checked,
        2 * 12 + 2 * 16 + 4 + 5 * 4 * 3 + 2 * 4 * 4 + 4 * 3
    );
}

#[test]
fn zoo_gradients() {
    assert_gradcheck::<Zoo<f64>>(ZooDims { I: 3, H: 4, O: 2 });
}

#[test]
fn backwards_gradients() {
    assert_gradcheck::<Backwards<f64>>(BackwardsDims { I: 2, H: 3 });
}

rnn_cell! {
    /// Layer normalization of the recurrent pre-activation (Ba et al. 2016), with a gain,
    /// written with the language's reductions; sums and means of several vectors.
    cell NormRnn {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];
        param g: [H] = ones;
        param b: [H] = zeros;

        a = h[t-1] @ U;
        m = mean(a);
        d = a - m;
        v = mean(d * d);
        n = g * d / sqrt(v + 1e-5);
        s = sum(x[t]) / 10;
        h[t] = tanh(x[t] @ W + n + b + s * mean(h[t-1]));
    }
}

rnn_cell! {
    /// Products of concatenated vectors, `concat(x[t], h[t-1]) @ W` with `W: [I + H, H]`, as
    /// many papers write them; the second one mixes an in-step value into the concatenation.
    cell ConcatGru {
        input x: [I];
        state h: [H];
        param W_z, W_r, W_h: [I + H, H];
        param b_z, b_r, b_h: [H];

        z = sigmoid(concat(x[t], h[t-1]) @ W_z + b_z);
        r = sigmoid(concat(x[t], h[t-1]) @ W_r + b_r);
        h_tilde = tanh(concat(x[t], r * h[t-1]) @ W_h + b_h);
        h[t] = (1 - z) * h[t-1] + z * h_tilde;
    }
}

#[test]
fn reductions_gradients() {
    assert_gradcheck::<NormRnn<f64>>(NormRnnDims { I: 3, H: 5 });
}

#[test]
fn concat_gradients() {
    let report = assert_gradcheck::<ConcatGru<f64>>(ConcatGruDims { I: 2, H: 3 });
    assert_eq!(report.checked, 3 * 5 * 3 + 3 * 3 + 5 * 4 * 2 + 4 * 3);
}

/// A crate re-exporting the facade (stands for another crate of the user's).
mod framework {
    /// A crate re-exporting the facade under another path.
    pub mod reexport {
        pub use ::recurrent as inner;
    }
}

mod through_reexport {
    recurrent::rnn_cell! {
        crate = super::framework::reexport::inner;
        /// A simple recurrent network found through the re-export.
        pub cell Elman {
            input x: [I];
            state h: [H];
            param W_xh: [I, H];
            param W_hh: [H, H];
            param b_h: [H];

            h[t] = tanh(x[t] @ W_xh + h[t-1] @ W_hh + b_h);
        }
    }
}

/// The `crate = path;` option: a crate that reaches the facade through a re-export names the
/// path, and the generated code finds the runtime there.
#[test]
fn a_cell_declared_with_a_crate_path_runs_and_gradient_checks() {
    use through_reexport::{Elman, ElmanDims};
    let dims = ElmanDims { I: 3, H: 4 };
    let cell = Elman::<f64>::new(dims, &mut recurrent::seeded_rng(1));
    let x = recurrent::ndarray::Array3::<f64>::ones((4, 2, 3));
    let fwd = cell.forward(x.view(), None, None).unwrap();
    assert_eq!(fwd.outputs.shape(), &[4, 2, 4]);
    recurrent::assert_gradcheck::<Elman<f64>>(dims);
}
