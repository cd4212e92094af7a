use rnn::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];
        param b: [H];

        a = x[t] @ W;
        a = h[t-1] @ U;
        h[t] = tanh(a + b);
    }
}

fn main() {}
