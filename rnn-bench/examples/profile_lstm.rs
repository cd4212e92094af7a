//! Profiling target: `perf record ./target/release/examples/profile_lstm [threads]`.
use recurrent::cells::*;
fn main() {
    let threads = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    recurrent::set_num_threads(threads);
    let cell = Lstm::<f32>::new(LstmDims { I: 512, H: 512 }, &mut recurrent::seeded_rng(0));
    let x = recurrent::ndarray::Array3::<f32>::from_elem((100, 64, 512), 0.1);
    let d = recurrent::ndarray::Array3::<f32>::from_elem((100, 64, 512), 0.01);
    for _ in 0..4 {
        let f = cell.forward(x.view(), None, None).unwrap();
        let g = cell.backward(&f, d.view(), None).unwrap();
        let _ = std::hint::black_box((f, g));
    }
}
