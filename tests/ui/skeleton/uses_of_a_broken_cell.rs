// A spec with one mistake, used as if it compiled: the user sees that one error only.
use recurrent::{rnn_cell, Cell};

rnn_cell! {
    cell Broken {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];

        h[t] = tanh(x[t] @ W + h[t-1] @ U + bias);
    }
}

fn main() {
    let cell = Broken::<f64>::new(BrokenDims { I: 2, H: 3 }, &mut recurrent::seeded_rng(0));
    let x = recurrent::ndarray::Array3::<f64>::zeros((4, 1, 2));
    let fwd = cell.forward(x.view(), None, None).unwrap();
    let grads = cell.backward(&fwd, fwd.outputs.view(), None).unwrap();
    println!("{:?} {}", grads.params.get("W"), cell.output_size());
}
