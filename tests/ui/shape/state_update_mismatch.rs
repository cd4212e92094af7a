use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W: [I, I];

        h[t] = tanh(x[t] @ W);
    }
}

fn main() {}
