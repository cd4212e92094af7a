use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param dims: [H];

        h[t] = tanh(x[t] @ W + dims);
    }
}

fn main() {}
