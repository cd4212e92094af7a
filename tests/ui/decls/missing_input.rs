use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        state h: [H];
        param U: [H, H];
        param b: [H];

        h[t] = tanh(h[t-1] @ U + b);
    }
}

fn main() {}
