use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I + H, H];

        h[t] = tanh(concat(x[t], h[t-1], x[t]) @ W);
    }
}

fn main() {}
