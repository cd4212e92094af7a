use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];

        h[t] = tanh(x[t] @ W - mean(W));
    }
}

fn main() {}
