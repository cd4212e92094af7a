//! Training feedback: the PNG plot (decoded and inspected), the metrics summary table and the
//! progress bar. Run with `cargo test -p rnn-runtime --features plot,progress --test plot`.
#![cfg(feature = "plot")]

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;

use rnn_runtime::{plot_curves, Curve, Error, PlotOptions, TrainingLog, CURVE_COLORS};

/// A fresh directory for this test's files under cargo's per-target temp dir.
fn out_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("plot-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Decodes an 8-bit RGB(A) PNG: (width, height, pixel counts per RGB color).
fn decode(path: &std::path::Path) -> (u32, u32, HashMap<(u8, u8, u8), usize>) {
    let decoder = png::Decoder::new(File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected color type {other:?}"),
    };
    let mut colors = HashMap::new();
    for px in buf[..info.buffer_size()].chunks_exact(channels) {
        *colors.entry((px[0], px[1], px[2])).or_insert(0) += 1;
    }
    (info.width, info.height, colors)
}

fn training_log() -> TrainingLog {
    let mut log = TrainingLog::new();
    for epoch in 0..20 {
        let e = epoch as f64;
        log.log(epoch, "train loss", 2.0 * (-0.25 * e).exp() + 0.05);
        log.log(epoch, "valid loss", 2.2 * (-0.2 * e).exp() + 0.12);
        log.log(epoch, "accuracy", 1.0 - 0.9 * (-0.3 * e).exp());
    }
    log
}

#[test]
fn png_has_the_size_and_the_curve_colors() {
    let dir = out_dir("curves");
    let path = dir.join("curves.png");
    let log = training_log();
    let options = PlotOptions {
        width: 800,
        height: 500,
        ..PlotOptions::default()
    };
    log.plot(&path, "Training curves", &[], &options).unwrap();

    let (width, height, colors) = decode(&path);
    assert_eq!((width, height), (800, 500));
    assert!(
        colors.len() > 20,
        "only {} distinct colors: blank image?",
        colors.len()
    );
    let white = colors.get(&(255, 255, 255)).copied().unwrap_or(0);
    assert!(white < (width * height) as usize, "all white");
    for (i, color) in CURVE_COLORS[..3].iter().enumerate() {
        let n = colors.get(color).copied().unwrap_or(0);
        assert!(n > 200, "curve {i} color {color:?} has only {n} pixels");
    }
    // A fourth color was not used.
    assert_eq!(colors.get(&CURVE_COLORS[3]), None);
    // Text (title, labels, legend) is antialiased dark gray over white: many gray levels.
    let grays = colors
        .keys()
        .filter(|&&(r, g, b)| r == g && g == b && r < 200)
        .count();
    assert!(grays > 10, "only {grays} gray levels: no text?");
}

#[test]
fn log_scale_plot_leaves_out_non_positive_points() {
    let dir = out_dir("log");
    let path = dir.join("log.png");
    let curves = [
        Curve::from_values("loss", (0..50).map(|i| 10f64.powf(-(i as f64) / 10.0))),
        Curve::new(
            "with gaps",
            [(0.0, 0.0), (10.0, 0.5), (20.0, f64::NAN), (30.0, 0.01)],
        ),
    ];
    let options = PlotOptions {
        log_y: true,
        ..PlotOptions::default()
    };
    plot_curves(&path, "Log scale", "step", "loss", &curves, &options).unwrap();
    let (width, height, colors) = decode(&path);
    assert_eq!((width, height), (960, 600));
    assert!(colors.get(&CURVE_COLORS[0]).copied().unwrap_or(0) > 200);
    assert!(colors.get(&CURVE_COLORS[1]).copied().unwrap_or(0) > 100);
}

#[test]
fn errors_name_the_path_and_the_cause() {
    let dir = out_dir("errors");
    let missing = dir.join("no such dir").join("x.png");
    let curve = [Curve::from_values("loss", [1.0, 0.5])];
    let options = PlotOptions::default();
    let message = |e: Error| match e {
        Error::Invalid(m) => m,
        other => panic!("unexpected error {other:?}"),
    };

    let e = message(plot_curves(&missing, "t", "x", "y", &curve, &options).unwrap_err());
    assert!(e.contains("x.png") && e.contains("does not exist"), "{e}");

    let path = dir.join("empty.png");
    let e = message(plot_curves(&path, "t", "x", "y", &[], &options).unwrap_err());
    assert!(e.contains("empty.png") && e.contains("no curves"), "{e}");

    let negative = [Curve::from_values("loss", [-1.0, 0.0])];
    let log = PlotOptions {
        log_y: true,
        ..PlotOptions::default()
    };
    let e = message(plot_curves(&path, "t", "x", "y", &negative, &log).unwrap_err());
    assert!(e.contains("log scale"), "{e}");

    let zero = PlotOptions {
        width: 0,
        ..PlotOptions::default()
    };
    let e = message(plot_curves(&path, "t", "x", "y", &curve, &zero).unwrap_err());
    assert!(e.contains("0x600"), "{e}");

    let e = message(
        training_log()
            .plot(&path, "t", &["loss"], &options)
            .unwrap_err(),
    );
    assert!(
        e.contains("unknown metric `loss`") && e.contains("train loss, valid loss, accuracy"),
        "{e}"
    );
    assert!(!path.exists());
}

#[test]
fn summary_table_lists_every_metric() {
    let mut log = TrainingLog::new();
    assert_eq!(log.to_string(), "no metrics logged\n");
    log.log(0, "loss", 1.5);
    log.log(1, "loss", 0.25);
    log.log(2, "loss", 0.5);
    log.log(1, "accuracy", 0.75);
    log.log(0, "accuracy", 0.5);
    log.log(1, "accuracy", 0.875); // replaces epoch 1's value
    log.log(0, "lr", 1e-3);

    assert_eq!(log.names().collect::<Vec<_>>(), ["loss", "accuracy", "lr"]);
    assert_eq!(log.get("accuracy"), Some(&[(0, 0.5), (1, 0.875)][..]));
    assert_eq!(log.min("loss"), Some((1, 0.25)));
    assert_eq!(log.max("accuracy"), Some((1, 0.875)));
    assert_eq!(log.last("loss"), Some(0.5));
    assert_eq!(log.get("missing"), None);
    assert_eq!(
        log.curve("loss").unwrap().points,
        [(0.0, 1.5), (1.0, 0.25), (2.0, 0.5)]
    );

    let table = log.to_string();
    print!("{table}");
    let expected = "\
metric    epochs      first       last    min (epoch)    max (epoch)
loss           3     1.5000     0.5000     0.2500 (1)     1.5000 (0)
accuracy       2     0.5000     0.8750     0.5000 (0)     0.8750 (1)
lr             1  1.0000e-3  1.0000e-3  1.0000e-3 (0)  1.0000e-3 (0)
";
    assert_eq!(table, expected);
}

#[cfg(feature = "progress")]
#[test]
fn progress_bar_runs_hidden() {
    use rnn_runtime::TrainingProgress;

    let mut progress = TrainingProgress::new(6).unit("tok").quiet(true);
    assert!(progress.is_hidden());
    assert_eq!(progress.loss(), None);
    for epoch in 0..2 {
        progress.set_epoch(epoch, 2);
        for _ in 0..3 {
            progress.step(1.0, 128);
        }
        progress.println("not printed in quiet mode");
    }
    assert_eq!(progress.position(), 6);
    assert_eq!(progress.examples(), 768);
    assert_eq!(progress.loss(), Some(1.0));
    assert!(progress.throughput() > 0.0);
    progress.finish();

    // Smoothing: the first loss starts the average, then ema <- 0.5 ema + 0.5 loss.
    let mut progress = TrainingProgress::new(3).smoothing(0.5).quiet(true);
    progress.step(4.0, 1);
    progress.step(2.0, 1);
    assert_eq!(progress.loss(), Some(3.0));
    progress.step(f64::NAN, 1);
    assert!(progress.loss().unwrap().is_nan());
    // Stepping past the length does not panic.
    progress.step(1.0, 1);
    progress.finish();

    // Not quiet: draws to stderr, hidden by indicatif when stderr is not a terminal.
    let mut progress = TrainingProgress::new(2);
    progress.step(0.5, 10);
    progress.step(0.25, 10);
    progress.finish();
}
