use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H], c: [H];
        param W: [I, H];
        param U: [H, H];
        param b: [H];

        c[t] = sigmoid(x[t] @ W + h[t] @ U);
        h[t] = tanh(c[t] + b);
    }
}

fn main() {}
