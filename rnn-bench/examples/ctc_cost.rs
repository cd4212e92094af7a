//! What the CTC loss adds to a training step: the loss and its gradient on `[T, B, 32]`
//! logits against targets of T/4 labels, beside an LSTM `train` call (forward and backward) of
//! the same workload, both the median of `reps` runs in this process, at 1 and 2 threads.
//!
//! `cargo run --release -p rnn-bench --example ctc_cost -- [WORKLOAD] [REPS]` (default M 11).

use rnn_bench::{cell_runner, cpu_model, ctc_runner, ctc_target_length, median_ms, workload, Mode};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "M".into());
    let reps: usize = args
        .next()
        .map_or(11, |r| r.parse().expect("REPS: a number"));
    let Some(w) = workload(&name) else {
        eprintln!("unknown workload {name} (S, M, L or tiny)");
        std::process::exit(2);
    };
    println!("CPU: {}", cpu_model());
    for threads in [1, 2] {
        recurrent::set_num_threads(threads);
        let ctc = median_ms(reps, ctc_runner(&w));
        let lstm = median_ms(
            reps,
            cell_runner("Lstm", &w, Mode::Train).expect("built-in"),
        );
        println!(
            "workload {} (T {}, B {}, H {}), {threads} thread(s): CTC loss + gradient ({} \
             classes, {} labels) {ctc:.3} ms, Lstm train {lstm:.3} ms: CTC = {:.1}% of the \
             LSTM step",
            w.name,
            w.steps,
            w.batch,
            w.hidden,
            rnn_bench::CTC_CLASSES,
            ctc_target_length(&w),
            100.0 * ctc / lstm
        );
    }
}
