//! The showdown chart: requests/s against connections (log scale), one
//! line per model, written as SVG text by hand.

use std::fmt::Write as _;

use crate::report::{thousands, Machine, Record, Settings};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 240.0;
const TOP: f64 = 90.0;
const BOTTOM: f64 = 70.0;

/// A colour per model, the same in every chart; the spindle models get the
/// strong ones.
const COLOURS: [(&str, &str); 11] = [
    ("blocking", "#7f7f7f"),
    ("threads", "#9467bd"),
    ("fork", "#8c564b"),
    ("nonblocking", "#e377c2"),
    ("select", "#17becf"),
    ("poll", "#bcbd22"),
    ("epoll", "#ff7f0e"),
    ("spindle-epoll", "#d62728"),
    ("spindle-io_uring", "#1f77b4"),
    ("spindle-poll", "#2ca02c"),
    ("spindle-select", "#000000"),
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
    let plot_h = HEIGHT - TOP - BOTTOM;
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
    let x = |c: f64| LEFT + (c.log10() - lo) / (hi - lo) * plot_w;
    let top_rps = records.iter().filter_map(|r| r.rps).fold(0.0, f64::max);
    let step = nice(top_rps.max(1.0) / 5.0);
    let y_max = (top_rps / step).ceil().max(1.0) * step;
    let y = |v: f64| TOP + plot_h - v / y_max * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="28" font-size="17" font-weight="bold">Echo server requests/s by connection count ({}-byte messages, closed loop)</text>"#,
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
    let _ = writeln!(
        s,
        r##"<text x="{}" y="68" fill="#555">{} s measured per point after {} s of warm-up{}</text>"##,
        LEFT,
        settings.secs,
        settings.warmup,
        if settings.pin {
            ", server and load generator pinned to one CPU each"
        } else {
            ", server and load generator share the CPUs"
        }
    );

    // Horizontal grid and y labels.
    let mut v = 0.0;
    while v <= y_max + step / 2.0 {
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
        v += step;
    }
    // Vertical grid: faint lines at the decades, labelled ticks at the
    // measured connection counts and at the decades that do not crowd them.
    let mut decade = 1.0f64;
    let mut decades = Vec::new();
    while decade <= max * 1.0001 * 10.0 {
        let lg = decade.log10();
        if lg >= lo && lg <= hi {
            decades.push(decade);
        }
        decade *= 10.0;
    }
    for &d in &decades {
        let xx = x(d);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="#eeeeee"/>"##,
            TOP + plot_h
        );
    }
    let mut labels: Vec<f64> = Vec::new();
    for c in levels
        .iter()
        .map(|&c| c as f64)
        .chain(decades.iter().copied())
    {
        if labels.iter().all(|&l| (x(l) - x(c)).abs() > 30.0) {
            labels.push(c);
        }
    }
    for c in labels {
        let xx = x(c);
        let measured = levels.iter().any(|&l| l as f64 == c);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#333"/>"##,
            TOP + plot_h,
            TOP + plot_h + 5.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{xx:.1}" y="{:.1}" text-anchor="middle"{}>{}</text>"##,
            TOP + plot_h + 20.0,
            if measured { "" } else { r##" fill="#999""## },
            thousands(c as u64)
        );
    }
    // Axes and their titles.
    let _ = writeln!(
        s,
        r##"<path d="M{LEFT},{TOP} V{:.1} H{:.1}" fill="none" stroke="#333"/>"##,
        TOP + plot_h,
        LEFT + plot_w
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">concurrent connections (log scale)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 22.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(24,{:.1}) rotate(-90)" text-anchor="middle">requests per second</text>"#,
        TOP + plot_h / 2.0
    );

    // One polyline per model, broken where a point is missing.
    let mut models: Vec<&str> = Vec::new();
    for r in records {
        if !models.contains(&r.model.as_str()) {
            models.push(&r.model);
        }
    }
    for (i, model) in models.iter().enumerate() {
        let col = colour(model, i);
        let width = if model.starts_with("spindle") {
            3.0
        } else {
            1.8
        };
        let dash = if model.starts_with("spindle") {
            ""
        } else {
            r#" stroke-dasharray="6 3""#
        };
        let mut points: Vec<&Record> = records.iter().filter(|r| r.model == *model).collect();
        points.sort_by_key(|r| r.conns);
        let _ = writeln!(s, r#"<g>"#);
        for run in points.split(|r| r.rps.is_none()) {
            if run.len() < 2 {
                continue;
            }
            let pts: Vec<String> = run
                .iter()
                .map(|r| format!("{:.1},{:.1}", x(r.conns as f64), y(r.rps.unwrap_or(0.0))))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{col}" stroke-width="{width}"{dash}/>"#,
                pts.join(" ")
            );
        }
        for r in &points {
            let Some(rps) = r.rps else { continue };
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{col}"><title>{} @ {} conns: {} req/s</title></circle>"#,
                x(r.conns as f64),
                y(rps),
                escape(model),
                r.conns,
                thousands(rps.round() as u64)
            );
        }
        let _ = writeln!(s, r#"</g>"#);
    }

    // Legend.
    let lx = LEFT + plot_w + 25.0;
    let _ = writeln!(
        s,
        r#"<text x="{lx:.1}" y="{:.1}" font-weight="bold">model</text>"#,
        TOP + 4.0
    );
    for (i, model) in models.iter().enumerate() {
        let col = colour(model, i);
        let ly = TOP + 26.0 + i as f64 * 22.0;
        let spindle = model.starts_with("spindle");
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{col}" stroke-width="{}"{}/>"#,
            lx + 28.0,
            if spindle { 3.0 } else { 1.8 },
            if spindle {
                ""
            } else {
                r#" stroke-dasharray="6 3""#
            }
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
    s.push_str("</svg>\n");
    s
}
