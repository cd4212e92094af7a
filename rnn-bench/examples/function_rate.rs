//! The speed of every f32 function of the language, in ns per element over 4096 inputs in
//! [-8, 8] (in L1), compiled for AVX2 + FMA as the generated passes are, beside the first
//! functions (`sigmoid`, `tanh`, `exp`), so that a new function's cost reads as a multiple of
//! theirs. Derivative helpers too (the backward pass calls them).
//!
//! `cargo run --release -p rnn-bench --example function_rate`

use recurrent::activation as a;

/// Best of `reps` passes of `out[i] = f(xs[i])`, in ns per element.
#[inline(always)]
fn time(xs: &[f32], out: &mut [f32], reps: usize, f: impl Fn(f32) -> f32) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let start = std::time::Instant::now();
        for _ in 0..100 {
            for (o, &x) in out.iter_mut().zip(std::hint::black_box(xs)) {
                *o = f(x);
            }
            std::hint::black_box(&mut *out);
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    best * 1e9 / (100 * xs.len()) as f64
}

macro_rules! rates {
    ($xs:expr, $out:expr, $($name:literal => $f:expr),* $(,)?) => {
        vec![$(($name, time($xs, $out, 20, $f))),*]
    };
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn measure(xs: &[f32], out: &mut [f32]) -> Vec<(&'static str, f64)> {
    rates!(xs, out,
        "sigmoid" => a::sigmoid,
        "tanh" => a::tanh,
        "exp" => a::exp,
        "softplus" => a::softplus,
        "silu" => a::silu,
        "gelu" => a::gelu,
        "gelu_tanh" => a::gelu_tanh,
        "elu" => |x| a::elu(x, 1.0),
        "leaky_relu" => |x| a::leaky_relu(x, 0.01),
        "abs" => a::abs,
        "square" => a::square,
        "pow(x, 3)" => |x| a::pow(x, 3.0),
        "pow(x, 1.5)" => |x| a::pow(x, 1.5),
        "clamp" => |x| a::clamp(x, -1.0, 1.0),
        "maximum" => |x| a::maximum(x, 0.5),
        "silu_grad" => a::silu_grad,
        "gelu_grad" => a::gelu_grad,
        "gelu_tanh_grad" => a::gelu_tanh_grad,
        "elu_grad" => |x| a::elu_grad(x, x, 1.0),
        "tie_step" => a::tie_step,
    )
}

fn main() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let xs: Vec<f32> = (0..4096)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 16.0 - 8.0
        })
        .collect();
    let mut out = vec![0.0f32; xs.len()];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA.
        let rates = unsafe { measure(&xs, &mut out) };
        let sigmoid = rates[0].1;
        println!("CPU: {}", rnn_bench::cpu_model());
        println!(
            "{:<16} {:>10} {:>12}",
            "f32 function", "ns/elem", "x sigmoid"
        );
        for (name, ns) in rates {
            println!("{name:<16} {ns:>10.3} {:>12.2}", ns / sigmoid);
        }
        return;
    }
    println!("this example needs an x86-64 CPU with AVX2 and FMA");
}
