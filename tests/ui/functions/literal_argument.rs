use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];
        param b: [H];

        h[t] = leaky_relu(x[t] @ W + h[t-1] @ U, b);
    }
}

fn main() {}
