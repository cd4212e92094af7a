use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];
        param b: [H];

        a = x[t] @ W;
        a = x[t] @ W + b;
        h[t] = tanh(a + h[t-1] @ U + b);
    }
}

fn main() {}
