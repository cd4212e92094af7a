use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];
        mask m: [H] = bernoulli(0.75);

        h[t] = tanh(x[t] @ W + h[t-1] @ U);
    }
}

fn main() {}
