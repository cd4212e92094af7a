use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        input y: [J];
        state h: [H];
        param W: [I, H];
        param V: [J, H];
        param U: [H, H];

        h[t] = tanh(x[t] @ W + y[t] @ V + h[t-1] @ U);
    }
}

fn main() {}
