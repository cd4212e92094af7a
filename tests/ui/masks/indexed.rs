use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];
        mask z: [H] = bernoulli_per_step(0.1);

        h[t] = z[t] * h[t-1] + (1 - z[t]) * tanh(x[t] @ W + h[t-1] @ U);
    }
}

fn main() {}
