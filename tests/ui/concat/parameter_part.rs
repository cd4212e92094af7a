use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I + H, H];
        param b: [H];

        h[t] = tanh(concat(x[t], b) @ W);
    }
}

fn main() {}
