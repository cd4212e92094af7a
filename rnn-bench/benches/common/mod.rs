//! Criterion settings shared by the benches: 10 samples of equal size (flat sampling, so a
//! benchmark whose call takes longer than the measurement time still stops after 10 calls),
//! 0.5 s warm-up, 1.5 s measurement.

use std::time::Duration;

use criterion::{measurement::WallTime, BenchmarkGroup, Criterion, SamplingMode};

/// The criterion configuration of every bench in this crate.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .without_plots()
}

/// A benchmark group with flat sampling (each of the 10 samples runs the same number of calls).
pub fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat);
    g
}
