//! The constructs of the language's second round, through the macro and the generated code:
//! the new functions (with PyTorch's derivatives at kinks), `max`/`min`, user functions and
//! transposed weights, gradient-checked in f64; a transposed weight against the same cell with
//! the transpose stored explicitly.

use recurrent::ndarray::{Array3, Axis};
use recurrent::rand::RngExt;
use recurrent::{assert_gradcheck, rnn_cell};

rnn_cell! {
    /// Every function added in the second round, `max`/`min`, a user function calling another
    /// and a tied (transposed) recurrent weight.
    cell Zoo2 {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];
        param b: [H];

        fn gate(v, w) = sigmoid(w) * v + (1 - sigmoid(w)) * softplus(v);
        fn norm(v) = (v - mean(v)) / sqrt(mean(square(v - mean(v))) + 0.1);

        a = x[t] @ W + h[t-1] @ U + b;
        r = h[t-1] @ U^T;
        f1 = silu(a) + gelu(a) - gelu_tanh(a) + elu(a) + elu(a, 0.5);
        f2 = leaky_relu(a, 0.1) + abs(a) + pow(a * a + 0.5, 1.5) + pow(a, 3) + clamp(a, -0.5, 0.5);
        f3 = max(a, r) - min(a, 0.25 * r);
        h[t] = tanh(gate(norm(f1 + f2), f3));
    }
}

rnn_cell! {
    /// `concat(x[t], h[t-1]) @ E^T` with `E: [H, I + H]` stored `[out, in]`.
    cell ConcatTransposed {
        input x: [I];
        state h: [H];
        param E: [H, I + H];
        param b: [H];

        h[t] = tanh(concat(x[t], h[t-1]) @ E^T + b);
    }
}

rnn_cell! {
    /// A tied recurrence: the recurrent matrix is the transpose of `W`.
    cell Tied {
        input x: [H];
        state h: [H];
        param V: [H, H];
        param W: [H, H];

        h[t] = tanh(x[t] @ V + h[t-1] @ W^T);
    }
}

rnn_cell! {
    /// `Tied` with the transpose stored as its own parameter `U`.
    cell Untied {
        input x: [H];
        state h: [H];
        param V: [H, H];
        param U: [H, H];

        h[t] = tanh(x[t] @ V + h[t-1] @ U);
    }
}

#[test]
fn new_functions_user_functions_and_transposes_gradients() {
    assert_gradcheck::<Zoo2<f64>>(Zoo2Dims { I: 3, H: 4 });
}

#[test]
fn concat_with_a_transposed_weight_gradients() {
    assert_gradcheck::<ConcatTransposed<f64>>(ConcatTransposedDims { I: 2, H: 3 });
}

#[test]
fn a_transposed_weight_equals_its_explicit_transpose() {
    let rng = &mut recurrent::seeded_rng(11);
    let h = 5;
    let tied = Tied::<f64>::new(TiedDims { H: h }, rng);
    let mut untied = Untied::<f64>::new(UntiedDims { H: h }, rng);
    untied.V_mut().assign(&tied.V());
    untied.U_mut().assign(&tied.W().t());
    let x = Array3::from_shape_fn((6, 3, h), |_| rng.random::<f64>() - 0.5);
    let d_y = Array3::from_shape_fn((6, 3, h), |_| rng.random::<f64>() - 0.5);
    let lengths = [6, 4, 1];
    let (ft, fu) = (
        tied.forward(x.view(), None, Some(&lengths)).unwrap(),
        untied.forward(x.view(), None, Some(&lengths)).unwrap(),
    );
    let diff = (&ft.outputs - &fu.outputs)
        .mapv(f64::abs)
        .fold(0.0, |m: f64, &v| m.max(v));
    assert!(diff < 1e-14, "outputs differ by {diff}");
    let (gt, gu) = (
        tied.backward(&ft, d_y.view(), None).unwrap(),
        untied.backward(&fu, d_y.view(), None).unwrap(),
    );
    let dw = gt
        .params
        .get("W")
        .unwrap()
        .into_dimensionality::<recurrent::ndarray::Ix2>()
        .unwrap();
    let du = gu
        .params
        .get("U")
        .unwrap()
        .into_dimensionality::<recurrent::ndarray::Ix2>()
        .unwrap();
    let diff = (&dw - &du.t())
        .mapv(f64::abs)
        .fold(0.0, |m: f64, &v| m.max(v));
    assert!(diff < 1e-13, "dW differs from dU^T by {diff}");
    let d_in = (&gt.inputs - &gu.inputs)
        .mapv(f64::abs)
        .sum_axis(Axis(0))
        .sum();
    assert!(d_in < 1e-12, "input gradients differ by {d_in}");
}
