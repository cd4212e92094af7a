use std::time::Instant;
fn main() {
    let (m, k, n) = (64usize, 512usize, 2048usize);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let w: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut packed = vec![0f32; recurrent::gemm::packed_len(k, n)];
    recurrent::gemm::pack_into(&mut packed, k, n, 0, &w, n, n);
    let mut c = vec![0f32; m * n];
    recurrent::set_num_threads(1);
    for _ in 0..3 {
        recurrent::gemm::gemm_packed(&a, m, k, &packed, n, &mut c, 0.0);
    }
    let reps = 50;
    let t = Instant::now();
    for _ in 0..reps {
        recurrent::gemm::gemm_packed(&a, m, k, &packed, n, &mut c, 0.0);
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "packed kernel: {:.3} ms, {:.1} GFLOP/s",
        s * 1e3,
        2.0 * (m * n * k) as f64 / s / 1e9
    );
    let av = recurrent::ndarray::ArrayView2::from_shape((m, k), &a).unwrap();
    let wv = recurrent::ndarray::ArrayView2::from_shape((k, n), &w).unwrap();
    let mut cv = recurrent::ndarray::Array2::<f32>::zeros((m, n));
    let t = Instant::now();
    for _ in 0..reps {
        recurrent::ndarray::linalg::general_mat_mul(1.0, &av, &wv, 0.0, &mut cv);
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "matrixmultiply: {:.3} ms, {:.1} GFLOP/s",
        s * 1e3,
        2.0 * (m * n * k) as f64 / s / 1e9
    );
    // elementwise: sigmoid over 64*512*...
    let x: Vec<f32> = (0..m * n).map(|i| (i % 100) as f32 * 0.05 - 2.5).collect();
    let mut y = vec![0f32; m * n];
    let t = Instant::now();
    for _ in 0..reps {
        for (o, &v) in y.iter_mut().zip(&x) {
            *o = recurrent::activation::sigmoid(v);
        }
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!("sigmoid: {:.2} ns/elem", s * 1e9 / (m * n) as f64);
    std::hint::black_box((&c, &y));
}
