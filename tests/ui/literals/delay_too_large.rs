use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];

        h[t] = tanh(x[t] @ W + h[t-99999999999999999999999] @ U);
    }
}

fn main() {}
