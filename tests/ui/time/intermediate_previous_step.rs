use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];
        param b: [H];

        a = sigmoid(x[t] @ W + b);
        h[t] = a * tanh(h[t-1] @ U) + a[t-1];
    }
}

fn main() {}
