//! Every result of a forward and a backward pass is the same, bit for bit, on one thread and
//! on two: the passes split examples between threads, but each reduction sums in a fixed order.
//! (One test in its own binary: the thread count is process-wide.)

use recurrent::cells::{Gru, GruDims, IndRnn, IndRnnDims, LayerNormLstm, LayerNormLstmDims};
use recurrent::cells::{Lstm, LstmDims, LstmPeephole, LstmPeepholeDims};
use recurrent::ndarray::Array3;
use recurrent::rand::RngExt;
use recurrent::Cell;

/// Everything a forward and backward pass return, flattened.
fn run<C: Cell<f64>>(cell: &C, x: &Array3<f64>, d_out: &Array3<f64>) -> Vec<Vec<f64>> {
    let lengths: Vec<usize> = (0..x.dim().1).map(|b| x.dim().0 - b % 3).collect();
    let fwd = cell.forward(x.view(), None, Some(&lengths)).unwrap();
    let g = cell.backward(&fwd, d_out.view(), None).unwrap();
    let mut v = vec![fwd.outputs.iter().copied().collect::<Vec<f64>>()];
    v.extend(
        fwd.final_states
            .arrays()
            .map(|a| a.iter().copied().collect()),
    );
    v.extend(g.params.iter().map(|(_, a)| a.iter().copied().collect()));
    v.push(g.inputs.iter().copied().collect());
    v.extend(
        g.initial_states
            .arrays()
            .map(|a| a.iter().copied().collect()),
    );
    v
}

fn check<C: Cell<f64>>(cell: C) {
    let name = C::spec().name;
    let mut rng = recurrent::seeded_rng(3);
    // B * H = 16384 values per fused loop: enough for the passes to split between threads.
    let (t, b) = (5, 64);
    let x = Array3::from_shape_fn((t, b, cell.input_size()), |_| rng.random_range(-1.0..1.0));
    let d_out = Array3::from_shape_fn((t, b, cell.output_size()), |_| rng.random_range(-1.0..1.0));
    let _lock = crate::thread_count_lock();
    let before = recurrent::num_threads();
    recurrent::set_num_threads(1);
    let one = run(&cell, &x, &d_out);
    recurrent::set_num_threads(2);
    let two = run(&cell, &x, &d_out);
    recurrent::set_num_threads(before);
    for (k, (a, b)) in one.iter().zip(&two).enumerate() {
        let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{name}: result {k} differs between 1 and 2 threads");
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let mut rng = recurrent::seeded_rng(0);
    check(Lstm::<f64>::new(LstmDims { I: 16, H: 256 }, &mut rng));
    check(Gru::<f64>::new(GruDims { I: 16, H: 256 }, &mut rng));
    check(IndRnn::<f64>::new(IndRnnDims { I: 16, H: 256 }, &mut rng));
    check(LstmPeephole::<f64>::new(
        LstmPeepholeDims { I: 16, H: 256 },
        &mut rng,
    ));
    check(LayerNormLstm::<f64>::new(
        LayerNormLstmDims { I: 16, H: 256 },
        &mut rng,
    ));
}
