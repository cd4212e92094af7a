//! The speed of the fast f32 activations against the standard library's, in ns per element:
//! over 10M inputs (memory traffic included) and over 4096 that stay in L1, compiled for the
//! baseline target and for AVX2 + FMA (as the generated code's second variant is).
//!
//! `cargo run --release -p rnn-bench --example activation_rate`

use recurrent::activation::{sigmoid, tanh};

/// The std-based f32 versions the fast ones replace (sigmoid: the previous stable form).
fn std_sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn std_tanh(x: f32) -> f32 {
    x.tanh()
}

/// Best of `reps` passes of `out[i] = f(xs[i])`, in ns per element.
#[inline(always)]
fn time(xs: &[f32], out: &mut [f32], reps: usize, f: impl Fn(f32) -> f32) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let start = std::time::Instant::now();
        for (o, &x) in out.iter_mut().zip(std::hint::black_box(xs)) {
            *o = f(x);
        }
        std::hint::black_box(&mut *out);
        best = best.min(start.elapsed().as_secs_f64());
    }
    best * 1e9 / xs.len() as f64
}

/// The same loops compiled for AVX2 + FMA (as the generated code's second variant is).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn time_avx2(xs: &[f32], out: &mut [f32], reps: usize) -> [f64; 4] {
    [
        time(xs, out, reps, std_sigmoid),
        time(xs, out, reps, sigmoid),
        time(xs, out, reps, std_tanh),
        time(xs, out, reps, tanh),
    ]
}

fn main() {
    const N: usize = 10_000_000;
    const REPS: usize = 5;
    // Inputs spread over [-8, 8] by a fixed LCG.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let xs: Vec<f32> = (0..N)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 16.0 - 8.0
        })
        .collect();
    let mut out = vec![0.0f32; N];
    // The whole 10M (memory traffic included), then a 4096-element slice that stays in L1.
    for (len, reps) in [(N, REPS), (4096, 2000)] {
        let (xs, out) = (&xs[..len], &mut out[..len]);
        let rows = [
            ("sigmoid std", time(xs, out, reps, std_sigmoid)),
            ("sigmoid fast", time(xs, out, reps, sigmoid)),
            ("tanh std", time(xs, out, reps, std_tanh)),
            ("tanh fast", time(xs, out, reps, tanh)),
        ];
        println!("baseline target features, {len} elements, best of {reps}:");
        for (name, ns) in rows {
            println!("  {name:<14} {ns:.3} ns/element");
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            let t = unsafe { time_avx2(xs, out, reps) };
            println!("avx2+fma, {len} elements, best of {reps}:");
            for (name, ns) in ["sigmoid std", "sigmoid fast", "tanh std", "tanh fast"]
                .iter()
                .zip(t)
            {
                println!("  {name:<14} {ns:.3} ns/element");
            }
        }
    }
    let checksum: f32 = out.iter().sum();
    std::hint::black_box(checksum);
}
