//! Profiling target: `perf record ./target/release/examples/profile_infer`.
use recurrent::cells::*;
fn main() {
    recurrent::set_num_threads(1);
    let cell = Lstm::<f32>::new(LstmDims { I: 256, H: 256 }, &mut recurrent::seeded_rng(0));
    let x = recurrent::ndarray::Array3::<f32>::from_elem((100, 64, 256), 0.1);
    for _ in 0..20 {
        let _ = std::hint::black_box(cell.infer(x.view(), None, None).unwrap());
    }
}
