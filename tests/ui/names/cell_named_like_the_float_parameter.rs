use recurrent::rnn_cell;

rnn_cell! {
    cell F {
        input x: [I];
        state h: [H];
        param W: [I, H];

        h[t] = tanh(x[t] @ W);
    }
}

fn main() {}
