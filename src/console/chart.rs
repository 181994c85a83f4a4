//! Line charts as server-rendered SVG (no script, no chart library): the pure geometry
//! — a "nice" vertical scale, where each point falls, which labels fit — and the SVG
//! text made from it. Gaps (a day without surveys) break a line instead of reading as 0.

use std::fmt::Write as _;

/// One line: its name (for the legend), colour and a value per label (`None`: no value).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// A CSS colour.
    pub colour: &'static str,
    /// One per label.
    pub values: Vec<Option<f64>>,
}

/// A chart to draw: the labels along the bottom, the lines, and the top of the scale
/// when it is fixed (5 for ratings, 100 for percentages); else it fits the data.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// What the chart shows (the SVG's accessible name).
    pub title: String,
    /// Along the bottom, one per point.
    pub labels: Vec<String>,
    /// The lines.
    pub series: Vec<Series>,
    /// A fixed top of the scale, if any.
    pub fixed_max: Option<f64>,
    /// Appended to the scale's labels (` %`).
    pub unit: &'static str,
}

/// The drawing area: the whole size and the plot's margins, in SVG units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Whole width.
    pub width: f64,
    /// Whole height.
    pub height: f64,
    /// Room for the scale's labels on the left.
    pub left: f64,
    /// Room on the right.
    pub right: f64,
    /// Room for the legend at the top.
    pub top: f64,
    /// Room for the labels at the bottom.
    pub bottom: f64,
}

impl Default for Frame {
    fn default() -> Self {
        Frame {
            width: 640.0,
            height: 220.0,
            left: 44.0,
            right: 12.0,
            top: 24.0,
            bottom: 28.0,
        }
    }
}

impl Frame {
    /// Where point `i` of `n` falls across: spread edge to edge, a lone one centred.
    pub fn x(&self, i: usize, n: usize) -> f64 {
        let inner = self.width - self.left - self.right;
        if n <= 1 {
            self.left + inner / 2.0
        } else {
            self.left + inner * i as f64 / (n - 1) as f64
        }
    }

    /// Where `value` falls on a scale from 0 to `max`: the bottom at 0, the top at `max`
    /// (values outside are held to the plot).
    pub fn y(&self, value: f64, max: f64) -> f64 {
        let inner = self.height - self.top - self.bottom;
        let share = if max > 0.0 {
            (value / max).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.top + inner * (1.0 - share)
    }
}

/// The top of a scale holding `largest`: 1, 2 or 5 times a power of ten, at least 1
/// (an empty or all-zero chart still has a scale).
pub fn nice_max(largest: f64) -> f64 {
    if !largest.is_finite() || largest <= 1.0 {
        return 1.0;
    }
    let power = 10f64.powf(largest.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|top| *top >= largest)
        .unwrap_or(10.0 * power)
}

/// The scale's marks: 0, a quarter, half, three quarters and the top.
pub fn ticks(max: f64) -> Vec<f64> {
    (0..=4).map(|i| max * f64::from(i) / 4.0).collect()
}

/// Every how many labels one is written so that `n` labels of about `chars` characters
/// fit in `room` units (7 units a character, and a space): 1 means all.
pub fn label_step(n: usize, chars: usize, room: f64) -> usize {
    if n == 0 {
        return 1;
    }
    let each = (chars as f64 + 1.0) * 7.0;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let fit = (room / each).floor().max(1.0) as usize;
    n.div_ceil(fit).max(1)
}

/// The runs of consecutive values of a line, as points: a gap ends a run.
pub fn runs(values: &[Option<f64>], frame: &Frame, max: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut run = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) if v.is_finite() => run.push((frame.x(i, values.len()), frame.y(*v, max))),
            _ => {
                if !run.is_empty() {
                    out.push(std::mem::take(&mut run));
                }
            }
        }
    }
    if !run.is_empty() {
        out.push(run);
    }
    out
}

/// A number on the scale: whole when it is, else one decimal.
fn figure(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Text for SVG: `&`, `<`, `>` and quotes escaped.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl LineChart {
    /// The top of this chart's scale.
    pub fn max(&self) -> f64 {
        self.fixed_max.unwrap_or_else(|| {
            nice_max(
                self.series
                    .iter()
                    .flat_map(|s| s.values.iter().flatten())
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(0.0, f64::max),
            )
        })
    }

    /// The chart as an `<svg>` element.
    pub fn svg(&self, frame: &Frame) -> String {
        let max = self.max();
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}"><title>{t}</title>"#,
            w = frame.width,
            h = frame.height,
            t = escape(&self.title)
        );
        for t in ticks(max) {
            let y = frame.y(t, max);
            let _ = write!(
                s,
                r##"<line x1="{x1}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" text-anchor="end" font-size="11">{v}{u}</text>"##,
                x1 = frame.left,
                x2 = frame.width - frame.right,
                tx = frame.left - 4.0,
                ty = y + 4.0,
                v = figure(t),
                u = self.unit
            );
        }
        let n = self.labels.len();
        let chars = self
            .labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        let step = label_step(n, chars, frame.width - frame.left - frame.right);
        for (i, label) in self.labels.iter().enumerate() {
            if i % step == 0 {
                let _ = write!(
                    s,
                    r#"<text x="{x:.1}" y="{y}" text-anchor="middle" font-size="11">{l}</text>"#,
                    x = frame.x(i, n),
                    y = frame.height - 8.0,
                    l = escape(label)
                );
            }
        }
        for (k, line) in self.series.iter().enumerate() {
            for run in runs(&line.values, frame, max) {
                if let [(x, y)] = run.as_slice() {
                    let _ = write!(
                        s,
                        r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{c}"/>"#,
                        c = line.colour
                    );
                } else {
                    let points: Vec<String> =
                        run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                    let _ = write!(
                        s,
                        r#"<polyline points="{p}" fill="none" stroke="{c}" stroke-width="2"/>"#,
                        p = points.join(" "),
                        c = line.colour
                    );
                }
            }
            #[allow(clippy::cast_precision_loss)]
            let lx = frame.left + 130.0 * k as f64;
            let _ = write!(
                s,
                r#"<rect x="{lx}" y="6" width="12" height="12" fill="{c}"/><text x="{tx}" y="16" font-size="12">{name}</text>"#,
                c = line.colour,
                tx = lx + 16.0,
                name = escape(&line.name)
            );
        }
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_end_on_a_round_number_at_or_above_the_data() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(-3.0), 1.0);
        assert_eq!(nice_max(f64::NAN), 1.0);
        assert_eq!(nice_max(1.0), 1.0);
        assert_eq!(nice_max(1.5), 2.0);
        assert_eq!(nice_max(3.0), 5.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(10.0), 10.0);
        assert_eq!(nice_max(11.0), 20.0);
        assert_eq!(nice_max(480.0), 500.0);
        assert_eq!(nice_max(501.0), 1000.0);
        assert_eq!(ticks(20.0), vec![0.0, 5.0, 10.0, 15.0, 20.0]);
    }

    #[test]
    fn points_fall_inside_the_plot() {
        let f = Frame::default();
        assert_eq!(f.x(0, 5), f.left);
        assert_eq!(f.x(4, 5), f.width - f.right);
        assert_eq!(f.y(0.0, 10.0), f.height - f.bottom);
        assert_eq!(f.y(10.0, 10.0), f.top);
        assert_eq!(f.y(5.0, 10.0), f.top + (f.height - f.top - f.bottom) / 2.0);
        // Out of range and a zero scale stay on the plot.
        assert_eq!(f.y(99.0, 10.0), f.top);
        assert_eq!(f.y(-1.0, 10.0), f.height - f.bottom);
        assert_eq!(f.y(3.0, 0.0), f.height - f.bottom);
    }

    #[test]
    fn one_point_is_centred_and_drawn_as_a_dot() {
        let f = Frame::default();
        assert_eq!(f.x(0, 1), f.left + (f.width - f.left - f.right) / 2.0);
        let chart = LineChart {
            title: "t".into(),
            labels: vec!["11-02".into()],
            series: vec![Series {
                name: "opened".into(),
                colour: "#1565c0",
                values: vec![Some(4.0)],
            }],
            fixed_max: None,
            unit: "",
        };
        let svg = chart.svg(&f);
        assert!(svg.contains("<circle"), "{svg}");
        assert!(!svg.contains("<polyline"));
        assert!(svg.contains(">11-02</text>"));
    }

    #[test]
    fn empty_data_draws_a_scale_and_no_line() {
        let chart = LineChart {
            title: "empty".into(),
            labels: Vec::new(),
            series: vec![Series {
                name: "opened".into(),
                colour: "#1565c0",
                values: Vec::new(),
            }],
            fixed_max: None,
            unit: "",
        };
        assert_eq!(chart.max(), 1.0);
        let svg = chart.svg(&Frame::default());
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("<polyline") && !svg.contains("<circle"));
        assert_eq!(svg.matches("<line ").count(), 5, "the scale's marks");
    }

    #[test]
    fn gaps_break_the_line() {
        let f = Frame::default();
        let r = runs(&[Some(1.0), Some(2.0), None, Some(3.0), None], &f, 4.0);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].len(), 2);
        assert_eq!(r[1].len(), 1);
        assert!(runs(&[None, None], &f, 4.0).is_empty());
    }

    #[test]
    fn labels_are_thinned_to_fit_and_escaped() {
        assert_eq!(label_step(0, 5, 500.0), 1);
        assert_eq!(label_step(7, 5, 584.0), 1);
        // 31 days of "11-02" (42 units each) in 584 units: 13 fit, so every third.
        assert_eq!(label_step(31, 5, 584.0), 3);
        assert_eq!(label_step(10, 50, 10.0), 10, "one at least");
        let chart = LineChart {
            title: "a < b & \"c\"".into(),
            labels: (1..=31).map(|d| format!("11-{d:02}")).collect(),
            series: vec![Series {
                name: "<x>".into(),
                colour: "#2e7d32",
                values: (1..=31).map(|d| Some(f64::from(d))).collect(),
            }],
            fixed_max: Some(100.0),
            unit: " %",
        };
        let svg = chart.svg(&Frame::default());
        assert!(svg.contains(r#"aria-label="a &lt; b &amp; &quot;c&quot;""#));
        assert!(svg.contains("&lt;x&gt;") && !svg.contains("<x>"));
        assert!(svg.contains(">11-01</text>") && svg.contains(">11-04</text>"));
        assert!(!svg.contains(">11-02</text>"));
        assert!(svg.contains(">100 %</text>") && svg.contains(">25 %</text>"));
        assert_eq!(chart.max(), 100.0, "a fixed scale stays");
    }
}
