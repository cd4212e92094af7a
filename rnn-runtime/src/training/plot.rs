//! PNG plots of training curves (feature `plot`, built on `plotters`).
//!
//! Text is drawn with DejaVu Sans, embedded in the library at compile time (see
//! `assets/fonts/LICENSE-DejaVu.txt`), so plots render the same on a fresh machine without system
//! fonts or libraries.
//!
//! ```no_run
//! use rnn_runtime::{plot_curves, Curve, PlotOptions};
//!
//! let train = Curve::from_values("train", [1.0, 0.5, 0.3, 0.2]);
//! let valid = Curve::from_values("valid", [1.1, 0.7, 0.5, 0.45]);
//! let options = PlotOptions { log_y: true, ..PlotOptions::default() };
//! plot_curves("loss.png", "Loss", "epoch", "loss", &[train, valid], &options)?;
//! # Ok::<(), rnn_runtime::Error>(())
//! ```

use std::fmt::Display;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::register_font;

use crate::core::error::{Error, Result};
use crate::training::metrics::{format_value, Curve, TrainingLog};

/// The embedded font's bytes (DejaVu Sans 2.37, Bitstream Vera license with public-domain DejaVu
/// changes).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family name the embedded font is registered under with plotters: a name of its own, so
/// that a program registering its own "sans-serif" is left alone.
const FAMILY: &str = "rnn-runtime-dejavu-sans";

/// Largest accepted width or height, in pixels.
const MAX_SIDE: u32 = 16_384;

/// The colors given to curves in order (the Tableau 10 palette, as RGB); curve `i` gets
/// `CURVE_COLORS[i % 10]`.
pub const CURVE_COLORS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// How [`plot_curves`] draws: image size and y-axis scale.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// Image width in pixels (default 960).
    pub width: u32,
    /// Image height in pixels (default 600).
    pub height: u32,
    /// A logarithmic y axis (default `false`): points with `y <= 0` are left out.
    pub log_y: bool,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            width: 960,
            height: 600,
            log_y: false,
        }
    }
}

/// Draws `curves` as lines, each in its own color ([`CURVE_COLORS`]), with a legend of their
/// names, axis labels `x_label` and `y_label` and the title `title`, and writes the image to
/// `path` as a PNG.
///
/// Points with a non-finite coordinate (and with `y <= 0` on a log scale) are left out; a line
/// joins the points on either side. Fails with [`Error::Invalid`] naming `path` if there is
/// nothing to draw, the size is 0 or above 16384 pixels, the directory does not exist or the file
/// cannot be written.
pub fn plot_curves(
    path: impl AsRef<Path>,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
    options: &PlotOptions,
) -> Result<()> {
    let path = path.as_ref();
    let fail = |cause: &dyn Display| Error::Invalid(format!("plot {}: {cause}", path.display()));
    let (width, height) = (options.width, options.height);
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        return Err(fail(&format_args!(
            "image size {width}x{height} is outside 1..={MAX_SIDE} pixels per side"
        )));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(fail(&format_args!(
                "directory {} does not exist",
                dir.display()
            )));
        }
    }
    register_embedded_font().map_err(|cause| fail(&cause))?;

    let keep = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!options.log_y || y > 0.0);
    let series: Vec<(&str, Vec<(f64, f64)>)> = curves
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.points.iter().copied().filter(keep).collect(),
            )
        })
        .collect();
    let all = || series.iter().flat_map(|(_, points)| points.iter().copied());
    let Some(x) = span(all().map(|(x, _)| x)) else {
        return Err(fail(&if curves.is_empty() {
            "no curves to draw"
        } else if options.log_y {
            "no point with finite coordinates and y > 0 to draw on a log scale"
        } else {
            "no point with finite coordinates to draw"
        }));
    };
    let y = span(all().map(|(_, y)| y)).expect("x and y come from the same points");
    let labels = Labels {
        title,
        x_label,
        y_label,
    };
    let drawn = if options.log_y {
        let y: LogCoord<f64> = log_padded(y).log_scale().into();
        draw(path, (width, height), &labels, &series, pad(x, 0.0), y)
    } else {
        let y: RangedCoordf64 = pad(y, 0.05).into();
        draw(path, (width, height), &labels, &series, pad(x, 0.0), y)
    };
    drawn.map_err(|cause| fail(&cause))
}

impl TrainingLog {
    /// Plots the metrics `metrics` (every metric if empty) against the epoch with
    /// [`plot_curves`], titled `title`, y axis labelled "value" (or the metric's name if there is
    /// only one). Metrics of very different magnitudes (loss and accuracy) read better in separate
    /// plots, or with `options.log_y`.
    pub fn plot(
        &self,
        path: impl AsRef<Path>,
        title: &str,
        metrics: &[&str],
        options: &PlotOptions,
    ) -> Result<()> {
        let path = path.as_ref();
        let curves = if metrics.is_empty() {
            self.curves()
        } else {
            metrics
                .iter()
                .map(|&name| {
                    self.curve(name).ok_or_else(|| {
                        let known: Vec<&str> = self.names().collect();
                        Error::Invalid(format!(
                            "plot {}: unknown metric `{name}`; logged metrics: {}",
                            path.display(),
                            known.join(", ")
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?
        };
        let y_label = match curves.as_slice() {
            [only] => only.name.as_str(),
            _ => "value",
        };
        plot_curves(path, title, "epoch", y_label, &curves, options)
    }
}

/// Registers [`FONT`] under [`FAMILY`] once per process.
fn register_embedded_font() -> std::result::Result<(), &'static str> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the embedded font could not be loaded")
    }
}

struct Labels<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
}

/// The smallest and largest value, `None` if there is none.
fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// `lo..hi` widened by `fraction` of its length on each side, or around a single value.
fn pad((lo, hi): (f64, f64), fraction: f64) -> Range<f64> {
    if hi > lo {
        let margin = (hi - lo) * fraction;
        lo - margin..hi + margin
    } else {
        let margin = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo - margin..hi + margin
    }
}

/// A positive `lo..hi` widened by 5% of its decades on each side, or a factor 2 around a single
/// value.
fn log_padded((lo, hi): (f64, f64)) -> Range<f64> {
    if hi > lo {
        let factor = (hi / lo).powf(0.05);
        lo / factor..hi * factor
    } else {
        lo / 2.0..hi * 2.0
    }
}

fn draw<Y>(
    path: &Path,
    size: (u32, u32),
    labels: &Labels<'_>,
    series: &[(&str, Vec<(f64, f64)>)],
    x: Range<f64>,
    y: Y,
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let font = |px: u32| (FAMILY, px).into_font();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(labels.title, font(26))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(96)
        .build_cartesian_2d(RangedCoordf64::from(x), y)?;
    chart
        .configure_mesh()
        .x_desc(labels.x_label)
        .y_desc(labels.y_label)
        .label_style(font(15))
        .axis_desc_style(font(18))
        .x_label_formatter(&|v| format_tick(*v))
        .y_label_formatter(&|v| format_tick(*v))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        .draw()?;
    let mut named = 0;
    for (i, (name, points)) in series.iter().enumerate() {
        let (r, g, b) = CURVE_COLORS[i % CURVE_COLORS.len()];
        let style = RGBColor(r, g, b).stroke_width(2);
        let drawn = chart.draw_series(LineSeries::new(points.iter().copied(), style))?;
        if !name.is_empty() {
            named += 1;
            drawn
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
    }
    if named > 0 {
        chart
            .configure_series_labels()
            .label_font(font(15))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// An axis tick: integers as such, other values like the summary table.
fn format_tick(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e5 {
        format!("{v:.0}")
    } else {
        let s = format_value(v);
        match s.split_once('e') {
            Some((mantissa, exponent)) => format!("{}e{exponent}", trim_zeros(mantissa)),
            None => trim_zeros(&s).to_owned(),
        }
    }
}

/// `0.2500` as `0.25`, `3.0000` as `3`.
fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}
