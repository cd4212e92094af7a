//! `backward` uses only the trace of the cell's own forward pass, with the parameter values
//! that pass saw; and no pass runs on non-finite parameters.

use recurrent::cells::{IndRnn, IndRnnDims, Lstm, LstmDims};
use recurrent::ndarray::{Array3, ArrayD, IxDyn};
use recurrent::Cell;

fn seq(t: usize, b: usize, i: usize) -> Array3<f64> {
    Array3::from_shape_fn((t, b, i), |(t, b, i)| {
        ((t * 7 + b * 3 + i) % 5) as f64 / 5.0 - 0.4
    })
}

#[test]
fn backward_refuses_a_trace_made_before_the_parameters_changed() {
    let mut cell = IndRnn::<f64>::new(IndRnnDims { I: 3, H: 4 }, &mut recurrent::seeded_rng(0));
    let x = seq(6, 2, 3);
    let fwd = cell.forward(x.view(), None, None).unwrap();
    let d_out = Array3::<f64>::ones((6, 2, 4));
    let _ = cell.backward(&fwd, d_out.view(), None).unwrap();
    cell.u_mut()[1] += 0.5;
    cell.W_mut()[[0, 0]] -= 0.25;
    let e = cell
        .backward(&fwd, d_out.view(), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("parameters changed since the forward pass"),
        "{e}"
    );
    // Through the string setter and the optimizers' path too.
    let fwd = cell.forward(x.view(), None, None).unwrap();
    let w = cell.param("W").unwrap().to_owned();
    cell.set_param("W", w.view()).unwrap();
    assert!(cell.backward(&fwd, d_out.view(), None).is_err());
    let fwd = cell.forward(x.view(), None, None).unwrap();
    cell.params_mut().scale(1.0);
    assert!(cell.backward(&fwd, d_out.view(), None).is_err());
    // A fresh forward pass is accepted again.
    let fwd = cell.forward(x.view(), None, None).unwrap();
    let _ = cell.backward(&fwd, d_out.view(), None).unwrap();
}

#[test]
fn backward_refuses_the_trace_of_another_cell_of_the_same_kind() {
    let dims = IndRnnDims { I: 3, H: 4 };
    let cell = IndRnn::<f64>::new(dims, &mut recurrent::seeded_rng(0));
    let other = IndRnn::<f64>::new(dims, &mut recurrent::seeded_rng(1));
    let x = seq(5, 2, 3);
    let fwd = cell.forward(x.view(), None, None).unwrap();
    let d_out = Array3::<f64>::ones((5, 2, 4));
    let e = other
        .backward(&fwd, d_out.view(), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("another `IndRnn`"), "{e}");
    // A clone is another cell: its parameters may change independently.
    let e = cell
        .clone()
        .backward(&fwd, d_out.view(), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("another `IndRnn`"), "{e}");
    let _ = cell.backward(&fwd, d_out.view(), None).unwrap();
}

#[test]
fn passes_refuse_non_finite_parameters_with_name_and_position() {
    let mut cell = Lstm::<f64>::new(LstmDims { I: 3, H: 4 }, &mut recurrent::seeded_rng(2));
    let x = seq(4, 2, 3);
    let _ = cell.forward(x.view(), None, None).unwrap();
    cell.W_hf_mut()[[2, 1]] = f64::NAN;
    for e in [
        cell.forward(x.view(), None, None).map(|_| ()),
        cell.infer(x.view(), None, None).map(|_| ()),
        cell.step(
            x.index_axis(recurrent::ndarray::Axis(0), 0),
            &cell.zero_states(2),
        )
        .map(|_| ()),
    ] {
        let e = e.unwrap_err().to_string();
        assert!(
            e.contains("parameter W_hf") && e.contains("NaN") && e.contains("[2, 1]"),
            "{e}"
        );
    }
    cell.W_hf_mut()[[2, 1]] = 0.0;
    cell.b_f_mut()[3] = f64::NEG_INFINITY;
    let e = cell.forward(x.view(), None, None).unwrap_err().to_string();
    assert!(
        e.contains("parameter b_f") && e.contains("-inf") && e.contains("[3]"),
        "{e}"
    );
    cell.b_f_mut()[3] = 1.0;
    let _ = cell.forward(x.view(), None, None).unwrap();
}

#[test]
fn set_param_refuses_non_finite_values() {
    let mut cell = Lstm::<f32>::new(LstmDims { I: 3, H: 4 }, &mut recurrent::seeded_rng(2));
    let mut v = ArrayD::<f32>::zeros(IxDyn(&[4]));
    v[[2]] = f32::INFINITY;
    let e = cell.set_param("b_i", v.view()).unwrap_err().to_string();
    assert!(
        e.contains("parameter b_i") && e.contains("inf") && e.contains("[2]"),
        "{e}"
    );
    assert!(cell.b_i().iter().all(|v| v.is_finite()), "nothing changed");
}
