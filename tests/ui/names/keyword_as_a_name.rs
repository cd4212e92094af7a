use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param type: [H];

        h[t] = tanh(x[t] @ W + type);
    }
}

fn main() {}
