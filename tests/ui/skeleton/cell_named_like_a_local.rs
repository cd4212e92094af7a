use recurrent::rnn_cell;

// A cell whose name is also a variable of the generated code (`x`, `dims`, `forward`): its
// one mistake is the only error, also from the skeleton emitted beside it.
rnn_cell! {
    cell x {
        input x: [I];
        state h: [H];
        param W: [I, H];

        h[t] = tanh(x[t] @ W + zz);
    }
}

fn main() {}
