//! Repeated rounds (`--rounds N`): on a shared machine one measurement of a
//! point can be off by a quarter, so the showdown can run every point N
//! times, the models taking turns within each round, and report the median.
//!
//! Two summaries come out of the rounds:
//!
//! * one record per point whose figures are the medians over the rounds
//!   (and whose `*_range` fields keep the lowest and highest value), and
//! * paired ratios: within each round, each model's figure divided by the
//!   base model's (`--base`) at the same connection count, then the median of those
//!   ratios. The two runs of a pair ran seconds apart, so a slow spell of
//!   the machine tends to hit both; the median of the ratios is steadier
//!   than the ratio of the medians.

use crate::report::Record;

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// `(median, lowest, highest)` of `values`, which end up sorted.
fn spread(values: &mut [f64]) -> Option<(f64, f64, f64)> {
    let mid = median(values)?;
    Some((mid, values[0], values[values.len() - 1]))
}

/// One record per point: `rounds[r][i]` is point `i` of round `r`, and every
/// round lists the same points in the same order.
pub fn median_records(rounds: &[Vec<Record>]) -> Vec<Record> {
    let points = rounds.first().map_or(0, Vec::len);
    (0..points)
        .map(|i| {
            let runs: Vec<&Record> = rounds.iter().map(|round| &round[i]).collect();
            combine(&runs)
        })
        .collect()
}

fn combine(runs: &[&Record]) -> Record {
    let first = runs[0];
    let floats = |field: fn(&Record) -> Option<f64>| -> Vec<f64> {
        runs.iter().filter_map(|r| field(r)).collect()
    };
    let ints = |field: fn(&Record) -> Option<u64>| -> Option<u64> {
        median(
            &mut runs
                .iter()
                .filter_map(|r| field(r).map(|v| v as f64))
                .collect::<Vec<_>>(),
        )
        .map(|v| v.round() as u64)
    };
    let rps = spread(&mut floats(|r| r.rps));
    let cpu = spread(&mut floats(|r| r.cpu_us_per_req));
    let mut record = Record::measured(&first.model, first.conns);
    record.rps = rps.map(|(mid, _, _)| mid);
    record.rps_range = rps.map(|(_, lo, hi)| (lo, hi));
    record.cpu_us_per_req = cpu.map(|(mid, _, _)| mid);
    record.cpu_us_per_req_range = cpu.map(|(_, lo, hi)| (lo, hi));
    record.p50_us = median(&mut floats(|r| r.p50_us));
    record.p99_us = median(&mut floats(|r| r.p99_us));
    record.client_cpu_us_per_req = median(&mut floats(|r| r.client_cpu_us_per_req));
    record.other_cpu_pct = median(&mut floats(|r| r.other_cpu_pct));
    record.steal_pct = median(&mut floats(|r| r.steal_pct));
    record.rss_kb = ints(|r| r.rss_kb);
    record.threads = ints(|r| r.threads);
    record.procs = ints(|r| r.procs);
    record.requests = ints(|r| Some(r.requests)).unwrap_or(0);
    record.secs = median(&mut runs.iter().map(|r| r.secs).collect::<Vec<_>>()).unwrap_or(0.0);
    record.errors = runs.iter().map(|r| r.errors).sum();
    record.rounds = runs.len();
    // The same note in every round (a skipped point) is said once; notes
    // that differ are said with their round.
    let notes: Vec<(usize, &str)> = runs
        .iter()
        .enumerate()
        .filter_map(|(k, r)| r.note.as_deref().map(|n| (k + 1, n)))
        .collect();
    record.note = if notes.is_empty() {
        None
    } else if notes.len() == runs.len() && notes.iter().all(|(_, n)| *n == notes[0].1) {
        Some(notes[0].1.to_string())
    } else {
        Some(
            notes
                .iter()
                .map(|(k, n)| format!("round {k}: {n}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    };
    record
}

/// A model's figures against the first model's, paired within rounds.
pub struct Ratio {
    pub model: String,
    pub base: String,
    pub conns: usize,
    /// Server CPU per request: median, lowest and highest of the rounds.
    pub cpu: (f64, f64, f64),
    /// Requests per second: median of the rounds.
    pub rps: f64,
    pub pairs: usize,
}

/// Paired ratios of every other model to `base`, per connection count;
/// points without figures in a round are left out of that round.
pub fn paired_ratios(
    rounds: &[Vec<Record>],
    base: &str,
    models: &[String],
    conns: &[usize],
) -> Vec<Ratio> {
    let find = |round: &[Record], model: &str, c: usize| -> Option<(f64, f64)> {
        let r = round.iter().find(|r| r.model == model && r.conns == c)?;
        Some((r.cpu_us_per_req?, r.rps?))
    };
    let mut out = Vec::new();
    for &c in conns {
        for model in models.iter().filter(|m| *m != base) {
            let (mut cpu, mut rps) = (Vec::new(), Vec::new());
            for round in rounds {
                if let (Some(b), Some(m)) = (find(round, base, c), find(round, model, c)) {
                    cpu.push(m.0 / b.0);
                    rps.push(m.1 / b.1);
                }
            }
            let pairs = cpu.len();
            let Some(cpu) = spread(&mut cpu) else {
                continue;
            };
            out.push(Ratio {
                model: model.clone(),
                base: base.to_string(),
                conns: c,
                pairs,
                cpu,
                rps: median(&mut rps).unwrap_or(f64::NAN),
            });
        }
    }
    out
}

/// The ratios as text lines for the terminal.
pub fn ratio_lines(ratios: &[Ratio]) -> String {
    let mut out = String::new();
    for r in ratios {
        out.push_str(&format!(
            "{} / {} @ {} conns: server CPU per request x{:.3} (rounds {:.2}..{:.2}), req/s x{:.3}, {} pairs\n",
            r.model, r.base, r.conns, r.cpu.0, r.cpu.1, r.cpu.2, r.rps, r.pairs
        ));
    }
    out
}
