use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H] = uniform(1e39);

        h[t] = tanh(1e39 * x[t] @ W);
    }
}

fn main() {}
