use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state match: [H];
        param W: [I, H];
        param U: [H, H];

        match[t] = tanh(x[t] @ W + match[t-1] @ U);
    }
}

fn main() {}
