use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param W_mut: [H];

        h[t] = tanh(x[t] @ W + W_mut);
    }
}

fn main() {}
