//! The showdown chart, written as SVG text by hand: two panels over the
//! same x axis (connections, log scale), one line per model.
//!
//! * The top panel is requests/s. On a busy machine it alone misleads: a
//!   model with many threads (thread-per-connection) takes a larger share
//!   of the CPUs from everything else and so can win on req/s while it
//!   spends more CPU on every request.
//! * The bottom panel is what each request cost the server: its CPU time
//!   per request (log scale), which other load barely changes.
//!
//! A point measured while the rest of the machine used more than
//! [`DISTURBED_PCT`] of a CPU is drawn hollow.

use std::fmt::Write as _;

use crate::report::{thousands, Machine, Record, Settings, DISTURBED_PCT};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 1000.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 240.0;
/// Where each panel's plot area starts, and how tall it is.
const TOP: f64 = 110.0;
const PANEL_H: f64 = 340.0;
/// From the top of one panel's plot to the top of the next.
const PANEL_STEP: f64 = 450.0;

/// A colour per model, the same in every chart; the spindle models get the
/// strong ones.
const COLOURS: [(&str, &str); 18] = [
    ("blocking", "#7f7f7f"),
    ("threads", "#9467bd"),
    ("fork", "#8c564b"),
    ("nonblocking", "#e377c2"),
    ("select", "#17becf"),
    ("poll", "#bcbd22"),
    ("epoll", "#ff7f0e"),
    ("sigio", "#66c2a5"),
    ("uring-completion", "#b35806"),
    ("spindle-epoll", "#d62728"),
    ("spindle-io_uring", "#1f77b4"),
    ("spindle-poll", "#2ca02c"),
    ("spindle-select", "#000000"),
    ("spindle-sharded", "#9e0142"),
    ("spindle-sharded-uring", "#e7298a"),
    ("spindle-processes", "#5e4fa2"),
    ("spindle-mt", "#f0a30a"),
    ("spindle-uring-completion", "#8c510a"),
];

fn colour(model: &str, index: usize) -> &'static str {
    COLOURS
        .iter()
        .find(|(name, _)| *name == model)
        .map_or(COLOURS[index % COLOURS.len()].1, |(_, c)| c)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// 1, 2 or 5 times a power of ten, at least `x`.
fn nice(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|v| *v >= x)
        .unwrap_or(10.0 * p)
}

/// `20000` -> `20k`, `1500000` -> `1.5M`.
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// The chart as an SVG document.
pub fn chart(machine: &Machine, settings: &Settings, records: &[Record]) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let mut levels: Vec<usize> = records.iter().map(|r| r.conns).collect();
    levels.sort_unstable();
    levels.dedup();
    let min = *levels.first().unwrap_or(&1) as f64;
    let max = *levels.last().unwrap_or(&1) as f64;
    // Log x axis, a little room on both sides.
    let (lo, hi) = {
        let (a, b) = (min.log10(), max.log10());
        let pad = ((b - a) * 0.05).max(0.1);
        (a - pad, b + pad)
    };
    let x = XAxis {
        lo,
        hi,
        levels,
        max,
        width: plot_w,
    };

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="28" font-size="17" font-weight="bold">Echo servers by connection count ({}-byte messages, closed loop)</text>"#,
        LEFT, settings.size
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="50" fill="#555">{} CPUs ({}), Linux {}, load average {} at start</text>"##,
        LEFT,
        machine.nproc,
        escape(&machine.cpu),
        escape(&machine.kernel),
        escape(&machine.loadavg),
    );
    let rounds = if settings.rounds > 1 {
        format!(", medians of {} rounds", settings.rounds)
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        r##"<text x="{}" y="68" fill="#555">{} s measured per point after {} s of warm-up{}{rounds}</text>"##,
        LEFT,
        settings.secs,
        settings.warmup,
        if settings.pin {
            ", server and load generator pinned to one CPU each"
        } else {
            ", server and load generator share the CPUs"
        }
    );

    let models = model_order(records);
    let rps = Panel {
        top: TOP,
        title: "requests per second (more is better)",
        y_title: "requests per second",
        log: false,
        value: |r| r.rps,
        label: |v| format!("{} req/s", thousands(v.round() as u64)),
    };
    let cpu = Panel {
        top: TOP + PANEL_STEP,
        title: "server CPU time per request (less is better; other load barely moves it)",
        y_title: "server CPU µs per request (log)",
        log: true,
        value: |r| r.cpu_us_per_req,
        label: |v| format!("{v:.1} µs of server CPU per request"),
    };
    for panel in [&rps, &cpu] {
        panel.draw(&mut s, &x, records, &models);
    }
    legend(&mut s, records, &models);
    s.push_str("</svg>\n");
    s
}

/// The models in the order they first appear.
fn model_order(records: &[Record]) -> Vec<&str> {
    let mut models: Vec<&str> = Vec::new();
    for r in records {
        if !models.contains(&r.model.as_str()) {
            models.push(&r.model);
        }
    }
    models
}

/// The shared x axis: connections, log scale.
struct XAxis {
    lo: f64,
    hi: f64,
    /// The measured connection counts.
    levels: Vec<usize>,
    max: f64,
    width: f64,
}

impl XAxis {
    fn at(&self, conns: f64) -> f64 {
        LEFT + (conns.log10() - self.lo) / (self.hi - self.lo) * self.width
    }
}

/// One panel: a figure of each record against connections.
struct Panel {
    top: f64,
    title: &'static str,
    y_title: &'static str,
    /// Log y axis (for figures that span decades).
    log: bool,
    value: fn(&Record) -> Option<f64>,
    /// A point's tooltip text.
    label: fn(f64) -> String,
}

impl Panel {
    fn draw(&self, s: &mut String, x: &XAxis, records: &[Record], models: &[&str]) {
        let (top, plot_w) = (self.top, x.width);
        let bottom = top + PANEL_H;
        let values: Vec<f64> = records
            .iter()
            .filter_map(self.value)
            .filter(|v| *v > 0.0)
            .collect();
        let top_v = values.iter().copied().fold(0.0, f64::max);
        // The y axis: `ticks` are the gridlines, `y` maps a value to pixels.
        let (ticks, y): (Vec<f64>, Box<dyn Fn(f64) -> f64>) = if self.log {
            let low_v = values.iter().copied().fold(f64::INFINITY, f64::min);
            let (a, b) = if values.is_empty() {
                (0.0, 1.0)
            } else {
                (
                    low_v.log10().floor(),
                    top_v.log10().ceil().max(low_v.log10().floor() + 1.0),
                )
            };
            let mut ticks = Vec::new();
            let mut decade = 10f64.powf(a);
            while decade <= 10f64.powf(b) * 1.0001 {
                for m in [1.0, 2.0, 5.0] {
                    let v = decade * m;
                    if v <= 10f64.powf(b) * 1.0001 {
                        ticks.push(v);
                    }
                }
                decade *= 10.0;
            }
            let y = move |v: f64| bottom - (v.max(1e-9).log10() - a) / (b - a) * PANEL_H;
            (ticks, Box::new(y))
        } else {
            let step = nice(top_v.max(1.0) / 5.0);
            let y_max = (top_v / step).ceil().max(1.0) * step;
            let ticks = (0..=((y_max / step).round() as usize))
                .map(|k| k as f64 * step)
                .collect();
            (ticks, Box::new(move |v: f64| bottom - v / y_max * PANEL_H))
        };

        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{:.1}" font-weight="bold">{}</text>"#,
            top - 12.0,
            escape(self.title)
        );
        for &v in &ticks {
            let yy = y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e4e4e4"/>"##,
                LEFT + plot_w
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 8.0,
                yy + 4.0,
                short(v)
            );
        }
        // Vertical grid: faint lines at the decades, labelled ticks at the
        // measured connection counts and at the decades that do not crowd them.
        let mut decade = 1.0f64;
        let mut decades = Vec::new();
        while decade <= x.max * 1.0001 * 10.0 {
            let lg = decade.log10();
            if lg >= x.lo && lg <= x.hi {
                decades.push(decade);
            }
            decade *= 10.0;
        }
        for &d in &decades {
            let xx = x.at(d);
            let _ = writeln!(
                s,
                r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{bottom:.1}" stroke="#eeeeee"/>"##
            );
        }
        let mut labels: Vec<f64> = Vec::new();
        for c in x
            .levels
            .iter()
            .map(|&c| c as f64)
            .chain(decades.iter().copied())
        {
            if labels.iter().all(|&l| (x.at(l) - x.at(c)).abs() > 30.0) {
                labels.push(c);
            }
        }
        for c in labels {
            let xx = x.at(c);
            let measured = x.levels.iter().any(|&l| l as f64 == c);
            let _ = writeln!(
                s,
                r##"<line x1="{xx:.1}" y1="{bottom:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#333"/>"##,
                bottom + 5.0
            );
            let _ = writeln!(
                s,
                r##"<text x="{xx:.1}" y="{:.1}" text-anchor="middle"{}>{}</text>"##,
                bottom + 20.0,
                if measured { "" } else { r##" fill="#999""## },
                thousands(c as u64)
            );
        }
        // Axes and their titles.
        let _ = writeln!(
            s,
            r##"<path d="M{LEFT},{top} V{bottom:.1} H{:.1}" fill="none" stroke="#333"/>"##,
            LEFT + plot_w
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">concurrent connections (log scale)</text>"#,
            LEFT + plot_w / 2.0,
            bottom + 42.0
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(24,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            top + PANEL_H / 2.0,
            escape(self.y_title)
        );

        // One polyline per model, broken where a point is missing.
        let mut hollow = String::new();
        for (i, model) in models.iter().enumerate() {
            let col = colour(model, i);
            let (width, dash) = line_style(model);
            let mut points: Vec<&Record> = records.iter().filter(|r| r.model == *model).collect();
            points.sort_by_key(|r| r.conns);
            let _ = writeln!(s, r#"<g>"#);
            for run in points.split(|r| (self.value)(r).is_none()) {
                if run.len() < 2 {
                    continue;
                }
                let pts: Vec<String> = run
                    .iter()
                    .map(|r| {
                        format!(
                            "{:.1},{:.1}",
                            x.at(r.conns as f64),
                            y((self.value)(r).unwrap_or(0.0))
                        )
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{col}" stroke-width="{width}"{dash}/>"#,
                    pts.join(" ")
                );
            }
            for r in &points {
                let Some(v) = (self.value)(r) else { continue };
                if r.disturbed() {
                    // Drawn last, larger and hollow, so no other model's
                    // marker hides it; its tooltip says why.
                    let _ = writeln!(
                        hollow,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="5" fill="white" stroke="{col}" stroke-width="2.5"><title>{} @ {} conns: {} (disturbed: other load {:.0}% of a CPU)</title></circle>"#,
                        x.at(r.conns as f64),
                        y(v),
                        escape(model),
                        r.conns,
                        escape(&(self.label)(v)),
                        r.other_cpu_pct
                            .unwrap_or(0.0)
                            .max(r.steal_pct.unwrap_or(0.0))
                    );
                    continue;
                }
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{col}"><title>{} @ {} conns: {}</title></circle>"#,
                    x.at(r.conns as f64),
                    y(v),
                    escape(model),
                    r.conns,
                    escape(&(self.label)(v))
                );
            }
            let _ = writeln!(s, r#"</g>"#);
        }
        s.push_str(&hollow);
    }
}

/// Spindle's models get solid, wide lines; the others dashed ones.
fn line_style(model: &str) -> (f64, &'static str) {
    if model.starts_with("spindle") {
        (3.0, "")
    } else {
        (1.8, r#" stroke-dasharray="6 3""#)
    }
}

/// The legend, right of the top panel: a line per model, then what a
/// hollow marker means.
fn legend(s: &mut String, records: &[Record], models: &[&str]) {
    let lx = WIDTH - RIGHT + 25.0;
    let _ = writeln!(
        s,
        r#"<text x="{lx:.1}" y="{:.1}" font-weight="bold">model</text>"#,
        TOP + 4.0
    );
    for (i, model) in models.iter().enumerate() {
        let col = colour(model, i);
        let ly = TOP + 26.0 + i as f64 * 22.0;
        let (width, dash) = line_style(model);
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{col}" stroke-width="{width}"{dash}/>"#,
            lx + 28.0,
        );
        let mine = || records.iter().filter(|r| r.model == *model);
        let max_ran = mine().filter(|r| r.rps.is_some()).map(|r| r.conns).max();
        let missing: Vec<usize> = mine()
            .filter(|r| r.rps.is_none())
            .map(|r| r.conns)
            .collect();
        let suffix = match max_ran {
            None => "(no data)".to_string(),
            _ if missing.is_empty() => String::new(),
            // Skipped above a limit (blocking, select): say the limit.
            Some(max) if missing.iter().all(|&c| c > max) => format!("(up to {max})"),
            Some(_) => format!(
                "(none at {})",
                missing
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            ),
        };
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}">{}<tspan dx="5" fill="#777" font-size="11">{}</tspan></text>"##,
            lx + 36.0,
            ly + 4.0,
            escape(model),
            escape(&suffix)
        );
    }
    let disturbed = records.iter().filter(|r| r.disturbed()).count();
    let ly = TOP + 26.0 + models.len() as f64 * 22.0 + 16.0;
    let _ = writeln!(
        s,
        r##"<circle cx="{:.1}" cy="{ly:.1}" r="5" fill="white" stroke="#333" stroke-width="2.5"/>"##,
        lx + 14.0
    );
    let lines = [
        "disturbed point:".to_string(),
        format!("other load took more than {DISTURBED_PCT:.0}%"),
        format!(
            "of a CPU meanwhile ({disturbed} of {})",
            records.iter().filter(|r| r.rps.is_some()).count()
        ),
    ];
    for (k, line) in lines.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#555">{}</text>"##,
            lx + 36.0,
            ly + 4.0 + k as f64 * 14.0,
            escape(line)
        );
    }
}
