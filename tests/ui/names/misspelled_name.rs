use recurrent::rnn_cell;

rnn_cell! {
    cell Foo {
        input x: [I];
        state h: [H];
        param W_xf: [I, H];
        param W_hf: [H, H];
        param b_f: [H];

        h[t] = sigmoid(x[t] @ W_xf + h[t-1] @ W_fh + b_f);
    }
}

fn main() {}
