use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];
        param b: [H];

        f = sigmoid(x[t] @ W + g);
        g = tanh(h[t-1] @ U + f);
        h[t] = f * g + b;
    }
}

fn main() {}
