//! The showdown's results: one [`Record`] per (model, connections) point,
//! printed as a markdown table and written as JSON (by hand: no serde).

use std::fmt::Write as _;

use crate::rounds::Ratio;

/// CPU used by the rest of the machine (or stolen by the hypervisor)
/// during a point's window above which the point is *disturbed*, in
/// percent of one CPU: its figures are then noted, marked in the chart and
/// counted in the summary.
pub const DISTURBED_PCT: f64 = 15.0;

/// One row: a model at one connection count, measured or skipped.
pub struct Record {
    pub model: String,
    pub conns: usize,
    pub rps: Option<f64>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub cpu_us_per_req: Option<f64>,
    pub client_cpu_us_per_req: Option<f64>,
    pub rss_kb: Option<u64>,
    pub threads: Option<u64>,
    pub procs: Option<u64>,
    /// CPU used by everything but the server and the load generator during
    /// the window, and the hypervisor's steal, in percent of one CPU.
    pub other_cpu_pct: Option<f64>,
    pub steal_pct: Option<f64>,
    pub requests: u64,
    pub errors: u64,
    pub secs: f64,
    pub note: Option<String>,
    /// How many rounds the figures are the median of (`--rounds`).
    pub rounds: usize,
    /// Over the rounds: the lowest and highest req/s and CPU per request.
    pub rps_range: Option<(f64, f64)>,
    pub cpu_us_per_req_range: Option<(f64, f64)>,
}

impl Record {
    pub fn measured(model: &str, conns: usize) -> Record {
        Record {
            model: model.to_string(),
            conns,
            rps: None,
            p50_us: None,
            p99_us: None,
            cpu_us_per_req: None,
            client_cpu_us_per_req: None,
            rss_kb: None,
            threads: None,
            procs: None,
            other_cpu_pct: None,
            steal_pct: None,
            requests: 0,
            errors: 0,
            secs: 0.0,
            note: None,
            rounds: 1,
            rps_range: None,
            cpu_us_per_req_range: None,
        }
    }

    /// A point the model cannot take, by design.
    pub fn skipped(model: &str, conns: usize, note: String) -> Record {
        Record {
            note: Some(note),
            ..Record::measured(model, conns)
        }
    }

    /// A point that went wrong (the server did not start, a connect failed).
    pub fn failed(model: &str, conns: usize, note: String) -> Record {
        Record::skipped(model, conns, format!("failed: {note}"))
    }

    /// True if other load on the machine (or hypervisor steal) took more
    /// than [`DISTURBED_PCT`] of a CPU while this point was measured.
    pub fn disturbed(&self) -> bool {
        let over = |pct: Option<f64>| pct.is_some_and(|p| p > DISTURBED_PCT);
        self.rps.is_some() && (over(self.other_cpu_pct) || over(self.steal_pct))
    }
}

/// The machine the run was made on.
pub struct Machine {
    pub nproc: usize,
    pub kernel: String,
    pub cpu: String,
    /// `/proc/loadavg`'s three averages when the run started.
    pub loadavg: String,
    pub unix_time: u64,
}

impl Machine {
    pub fn detect() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            cpu,
            loadavg: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

/// How the run was configured.
pub struct Settings {
    pub secs: f64,
    pub warmup: f64,
    pub size: usize,
    pub client_threads: usize,
    pub pin: bool,
    pub conns: Vec<usize>,
    pub models: Vec<String>,
    pub rounds: usize,
    pub elapsed_secs: f64,
}

/// `12345` -> `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency or CPU figure in µs: one decimal below 100, none above.
fn micros(v: f64) -> String {
    if v < 100.0 {
        format!("{v:.1}")
    } else {
        thousands(v.round() as u64)
    }
}

/// The results as a markdown table, columns padded so it also reads as text.
pub fn markdown_table(records: &[Record]) -> String {
    let header = [
        "model",
        "conns",
        "req/s",
        "p50 µs",
        "p99 µs",
        "server CPU µs/req",
        "RSS kB",
        "threads",
        "note",
    ];
    let dash = || "-".to_string();
    let rows: Vec<[String; 9]> = records
        .iter()
        .map(|r| {
            [
                r.model.clone(),
                thousands(r.conns as u64),
                r.rps.map_or_else(dash, |v| thousands(v.round() as u64)),
                r.p50_us.map_or_else(dash, micros),
                r.p99_us.map_or_else(dash, micros),
                r.cpu_us_per_req.map_or_else(dash, |v| format!("{v:.1}")),
                r.rss_kb.map_or_else(dash, thousands),
                r.threads.map_or_else(dash, thousands),
                r.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Text columns (model, note) left-aligned, numbers right-aligned.
    let left = |i: usize| i == 0 || i == 8;
    let line = |cells: &[String]| {
        let mut s = String::from("|");
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if left(i) {
                let _ = write!(s, " {cell}{} |", " ".repeat(pad));
            } else {
                let _ = write!(s, " {}{cell} |", " ".repeat(pad));
            }
        }
        s
    };
    let mut out = line(&header.map(String::from));
    out.push('\n');
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        if left(i) {
            let _ = write!(out, ":{}|", "-".repeat(w + 1));
        } else {
            let _ = write!(out, "{}:|", "-".repeat(w + 1));
        }
    }
    for row in &rows {
        out.push('\n');
        out.push_str(&line(row));
    }
    out
}

/// The closing words of a run: what was measured, how much of it other
/// load disturbed and what to do about that, and where the files went.
pub fn summary(records: &[Record], settings: &Settings, written: &[std::path::PathBuf]) -> String {
    let measured = records.iter().filter(|r| r.rps.is_some()).count();
    let failed = records
        .iter()
        .filter(|r| r.rps.is_none() && r.note.as_deref().is_some_and(|n| n.starts_with("failed")))
        .count();
    let skipped = records.len() - measured - failed;
    let disturbed: Vec<&Record> = records.iter().filter(|r| r.disturbed()).collect();
    let mut out = String::from("Summary\n");
    let _ = writeln!(
        out,
        "- {} points: {measured} measured, {skipped} skipped by design (a model's connection limit), {failed} failed.",
        records.len()
    );
    if disturbed.is_empty() {
        let _ = writeln!(
            out,
            "- No point was disturbed: other load stayed under {DISTURBED_PCT:.0}% of a CPU in every window."
        );
    } else {
        let names: Vec<String> = disturbed
            .iter()
            .map(|r| format!("{} @ {}", r.model, r.conns))
            .collect();
        let _ = writeln!(
            out,
            "- {} of {measured} measured points were disturbed: the rest of the machine used more than \
             {DISTURBED_PCT:.0}% of a CPU while they ran ({}). They carry a note above and a hollow \
             marker in the chart.",
            disturbed.len(),
            names.join(", ")
        );
        let _ = writeln!(
            out,
            "  What to do: run again on a quieter machine (stop builds and other benchmarks; `uptime` \
             shows the load), or with `--rounds 3` so the models take turns and the medians and paired \
             ratios absorb the bursts{}. Trust server CPU µs/req over req/s: other load takes CPU share \
             away from a server, which lowers its req/s, but barely changes what each request costs.",
            if settings.rounds > 1 { " (this run had rounds: add more)" } else { "" }
        );
    }
    if written.is_empty() {
        out.push_str("- No files written.\n");
    } else {
        let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(out, "- Wrote {}.", files.join(" and "));
        let into_docs = |p: &std::path::PathBuf| p.components().any(|c| c.as_os_str() == "docs");
        if !written.iter().any(into_docs) {
            out.push_str(
                "  To replace the recorded run in docs/, add `--json docs/showdown.json --svg docs/showdown.svg`.\n",
            );
        }
    }
    out
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number (rounded to `decimals`), or `null`.
fn json_num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "null".into(),
    }
}

/// `[low, high]`, or `null`.
fn json_pair(v: Option<(f64, f64)>, decimals: usize) -> String {
    v.map_or_else(
        || "null".into(),
        |(a, b)| {
            format!(
                "[{}, {}]",
                json_num(Some(a), decimals),
                json_num(Some(b), decimals)
            )
        },
    )
}

fn json_int(v: Option<u64>) -> String {
    v.map_or_else(|| "null".into(), |v| v.to_string())
}

/// The whole run as a JSON document; `results` holds one object per point.
pub fn json(
    command: &str,
    machine: &Machine,
    settings: &Settings,
    records: &[Record],
    ratios: &[Ratio],
) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(out, "  \"command\": {},", json_str(command));
    let _ = writeln!(
        out,
        "  \"machine\": {{\"nproc\": {}, \"kernel\": {}, \"cpu\": {}, \"loadavg_at_start\": {}, \"unix_time\": {}}},",
        machine.nproc,
        json_str(&machine.kernel),
        json_str(&machine.cpu),
        json_str(&machine.loadavg),
        machine.unix_time
    );
    let list = |items: Vec<String>| items.join(", ");
    let _ = writeln!(
        out,
        "  \"settings\": {{\"secs\": {}, \"warmup_secs\": {}, \"size\": {}, \"client_threads\": {}, \"pin\": {}, \"conns\": [{}], \"models\": [{}], \"rounds\": {}, \"elapsed_secs\": {:.1}}},",
        settings.secs,
        settings.warmup,
        settings.size,
        settings.client_threads,
        settings.pin,
        list(settings.conns.iter().map(|c| c.to_string()).collect()),
        list(settings.models.iter().map(|m| json_str(m)).collect()),
        settings.rounds,
        settings.elapsed_secs
    );
    let _ = writeln!(
        out,
        "  \"fields\": {{\"rps\": {}, \"p50_us\": {}, \"p99_us\": {}, \"cpu_us_per_req\": {}, \"client_cpu_us_per_req\": {}, \"rss_kb\": {}, \"threads\": {}, \"procs\": {}, \"other_cpu_pct\": {}}},",
        json_str("replies received in the measured window / its length in seconds; null if the point was skipped or failed"),
        json_str("median request latency in µs (write of the request to the last byte of its echo), measured in the load generator"),
        json_str("99th percentile of the same latency, µs"),
        json_str("server CPU time per request, µs: delta of utime+stime+cutime+cstime from /proc/PID/stat summed over every process in the server's process group, over the measured window"),
        json_str("CPU time of the load generator (this process, all threads) per request, µs"),
        json_str("VmRSS from /proc/PID/status at the end of the window (connections open), summed over the server's process group"),
        json_str("Threads from /proc/PID/status at the end of the window, summed over the server's process group"),
        json_str("processes in the server's process group at the end of the window"),
        json_str("CPU used during the window by everything but the server and the load generator (other processes, kernel threads), percent of one CPU: /proc/stat busy time minus the two; above 15 the row has a note")
    );
    out.push_str("  \"results\": [\n");
    for (i, r) in records.iter().enumerate() {
        let _ = write!(
            out,
            "    {{\"model\": {}, \"conns\": {}, \"rps\": {}, \"p50_us\": {}, \"p99_us\": {}, \"cpu_us_per_req\": {}, \"client_cpu_us_per_req\": {}, \"rss_kb\": {}, \"threads\": {}, \"procs\": {}, \"other_cpu_pct\": {}, \"steal_pct\": {}, \"requests\": {}, \"errors\": {}, \"secs\": {}, \"rounds\": {}, \"rps_range\": {}, \"cpu_us_per_req_range\": {}, \"note\": {}}}",
            json_str(&r.model),
            r.conns,
            json_num(r.rps, 1),
            json_num(r.p50_us, 1),
            json_num(r.p99_us, 1),
            json_num(r.cpu_us_per_req, 2),
            json_num(r.client_cpu_us_per_req, 2),
            json_int(r.rss_kb),
            json_int(r.threads),
            json_int(r.procs),
            json_num(r.other_cpu_pct, 1),
            json_num(r.steal_pct, 1),
            r.requests,
            r.errors,
            json_num(Some(r.secs), 3),
            r.rounds,
            json_pair(r.rps_range, 1),
            json_pair(r.cpu_us_per_req_range, 2),
            r.note.as_deref().map_or_else(|| "null".into(), json_str)
        );
        out.push_str(if i + 1 < records.len() { ",\n" } else { "\n" });
    }
    out.push_str("  ],\n  \"ratios\": [\n");
    for (i, r) in ratios.iter().enumerate() {
        let _ = write!(
            out,
            "    {{\"model\": {}, \"base\": {}, \"conns\": {}, \"pairs\": {}, \"cpu_us_per_req\": {}, \"cpu_us_per_req_range\": {}, \"rps\": {}}}",
            json_str(&r.model),
            json_str(&r.base),
            r.conns,
            r.pairs,
            json_num(Some(r.cpu.0), 3),
            json_pair(Some((r.cpu.1, r.cpu.2)), 3),
            json_num(Some(r.rps), 3)
        );
        out.push_str(if i + 1 < ratios.len() { ",\n" } else { "\n" });
    }
    out.push_str("  ]\n}\n");
    out
}
