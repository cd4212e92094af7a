use recurrent::rnn_cell;

// MUT1 (Jozefowicz et al. 2015) adds `tanh(x[t])` to a vector of the hidden size, so it needs
// `input x: [H]`; with `input x: [I]` the sizes are not known to be equal.
rnn_cell! {
    cell Mut1 {
        input x: [I];
        state h: [H];
        param W_xz, W_xr: [I, H];
        param W_hr, W_hh: [H, H];
        param b_z, b_r, b_h: [H];

        z = sigmoid(x[t] @ W_xz + b_z);
        r = sigmoid(x[t] @ W_xr + h[t-1] @ W_hr + b_r);
        h[t] = tanh((r * h[t-1]) @ W_hh + tanh(x[t]) + b_h) * z + h[t-1] * (1 - z);
    }
}

fn main() {}
