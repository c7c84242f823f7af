//! The showdown's command line, parsed by clap: what `--help` prints is
//! generated from the fields below, so it cannot drift from what is
//! accepted. [`Args::options`] turns the flags into the run's [`Options`],
//! filling in the defaults that depend on other flags (`--quick`).

use std::path::PathBuf;

use clap::Parser;

use crate::io_models::Model;

/// Connection counts of a full run, and of `--quick`.
const DEFAULT_CONNS: [usize; 4] = [1, 50, 1000, 5000];
const QUICK_CONNS: [usize; 3] = [1, 50, 1000];
/// The models run by default; `spindle-poll` and `spindle-select` are
/// selectable with `--models`.
pub const DEFAULT_MODELS: [&str; 16] = [
    "blocking",
    "threads",
    "fork",
    "nonblocking",
    "select",
    "poll",
    "epoll",
    "sigio",
    "uring-completion",
    "spindle-epoll",
    "spindle-io_uring",
    "spindle-uring-completion",
    "spindle-mt",
    "spindle-sharded",
    "spindle-sharded-uring",
    "spindle-processes",
];

/// Every echo server of examples/io_models/ under the same closed-loop load,
/// side by side: requests/s, latency, server CPU time per request, memory.
///
/// Results go to target/showdown/ (a markdown table on stdout, JSON and an
/// SVG chart on disk) unless --json/--svg name other files.
#[derive(Parser, Debug)]
#[command(name = "showdown", after_help = models_help())]
pub struct Args {
    /// Connections 1,50,1000 and 1 s points (under a minute).
    #[arg(long)]
    pub quick: bool,
    /// Models to run, comma-separated; also `all`, `async` (every spindle
    /// backend) and `default` [default: the models listed below].
    #[arg(long, value_name = "A,B,C", value_parser = parse_models)]
    pub models: Option<ModelList>,
    /// Connection counts, comma-separated [default: 1,50,1000,5000].
    #[arg(long, value_name = "1,50,...", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    pub conns: Option<Vec<u32>>,
    /// Measured seconds per point [default: 3, quick 1].
    #[arg(long, value_name = "S", value_parser = seconds)]
    pub secs: Option<f64>,
    /// Warm-up seconds per point [default: 0.5, quick 0.25].
    #[arg(long, value_name = "S", value_parser = seconds)]
    pub warmup: Option<f64>,
    /// Message size in bytes.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub size: u32,
    /// Load-generator threads above 64 connections.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub client_threads: u32,
    /// Server on CPU 0, load generator on CPU 1.
    #[arg(long)]
    pub pin: bool,
    /// Run every point N times, models taking turns; report medians and
    /// each model's per-round ratios to --base.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// The model the paired ratios divide by [default: the first of --models].
    #[arg(long, value_name = "MODEL")]
    pub base: Option<String>,
    /// Where the results go as JSON [default: target/showdown/showdown.json].
    /// `--json docs/showdown.json` replaces the recorded run.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Where the chart goes as SVG [default: target/showdown/showdown.svg].
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Write neither file.
    #[arg(long, conflicts_with_all = ["json", "svg"])]
    pub no_files: bool,
    /// Run nothing: read a JSON file this program wrote and draw its chart
    /// again (to --svg, or target/showdown/showdown.svg).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["json", "no_files"])]
    pub chart_from: Option<PathBuf>,

    /// Internal: be the server of one point (the showdown runs itself
    /// again as `showdown --serve MODEL --addr 127.0.0.1:0` per point).
    #[arg(long, value_name = "MODEL", help_heading = "Internal", value_parser = parse_model)]
    pub serve: Option<Model>,
    /// Internal, with --serve: the address to listen on.
    #[arg(
        long,
        value_name = "HOST:PORT",
        requires = "serve",
        help_heading = "Internal"
    )]
    pub addr: Option<String>,
    /// Internal, with --serve: the CPU to pin the server to.
    #[arg(long, value_name = "N", requires = "serve", help_heading = "Internal")]
    pub cpu: Option<usize>,
}

/// A parsed `--models` list (a newtype: clap treats a bare `Vec` as "the
/// flag repeated").
#[derive(Clone, Debug)]
pub struct ModelList(pub Vec<String>);

/// How a run is configured, defaults filled in.
pub struct Options {
    pub models: Vec<String>,
    pub conns: Vec<usize>,
    pub secs: f64,
    pub warmup: f64,
    pub size: usize,
    pub client_threads: usize,
    pub json: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    pub pin: bool,
    pub rounds: usize,
    /// The model the paired ratios divide by.
    pub base: String,
}

impl Args {
    /// The run's options; an error if `--base` is not among the models.
    pub fn options(&self) -> Result<Options, String> {
        let quick = self.quick;
        let models = match &self.models {
            Some(list) => list.0.clone(),
            None => DEFAULT_MODELS.iter().map(|s| s.to_string()).collect(),
        };
        let base = match &self.base {
            Some(b) if models.contains(b) => b.clone(),
            Some(b) => return Err(format!("--base {b}: not one of the models run")),
            None => models[0].clone(),
        };
        let conns = match &self.conns {
            Some(list) => list.iter().map(|&c| c as usize).collect(),
            None if quick => QUICK_CONNS.to_vec(),
            None => DEFAULT_CONNS.to_vec(),
        };
        let (json, svg) = if self.no_files {
            (None, None)
        } else {
            (
                Some(
                    self.json
                        .clone()
                        .unwrap_or_else(|| output_dir().join("showdown.json")),
                ),
                Some(self.svg_path()),
            )
        };
        Ok(Options {
            models,
            base,
            conns,
            secs: self.secs.unwrap_or(if quick { 1.0 } else { 3.0 }),
            warmup: self.warmup.unwrap_or(if quick { 0.25 } else { 0.5 }),
            size: self.size as usize,
            client_threads: self.client_threads as usize,
            json,
            svg,
            pin: self.pin,
            rounds: self.rounds as usize,
        })
    }

    /// `--svg`, or the chart's default place.
    pub fn svg_path(&self) -> PathBuf {
        self.svg
            .clone()
            .unwrap_or_else(|| output_dir().join("showdown.svg"))
    }
}

/// `target/showdown/` of this workspace (or of `$CARGO_TARGET_DIR`): build
/// output, so a run leaves the checkout clean.
pub fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("showdown")
}

/// The text under the options in `--help`: every model name.
fn models_help() -> String {
    let mut names: Vec<String> = Model::all().iter().map(Model::name).collect();
    for m in Model::async_all().into_iter().chain(Model::multi_core()) {
        if !names.contains(&m.name()) {
            names.push(m.name());
        }
    }
    format!(
        "Models: {}.\nDefault models: {}.",
        names.join(", "),
        DEFAULT_MODELS.join(",")
    )
}

fn parse_model(name: &str) -> Result<Model, String> {
    Model::parse(name).ok_or_else(|| format!("unknown model {name:?}"))
}

/// `a,b,c`; `all` is every model, `async` (or `spindle`) every spindle
/// one, `default` the default list. Duplicates are dropped.
fn parse_models(list: &str) -> Result<ModelList, String> {
    let mut names = Vec::new();
    for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match word {
            "all" => names.extend(
                Model::all()
                    .iter()
                    .chain(&Model::async_all())
                    .chain(&Model::multi_core())
                    .map(Model::name),
            ),
            "async" | "spindle" => names.extend(Model::async_all().iter().map(Model::name)),
            "default" => names.extend(DEFAULT_MODELS.iter().map(|s| s.to_string())),
            _ => names.push(parse_model(word)?.name()),
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    if names.is_empty() {
        return Err("needs at least one model".to_string());
    }
    Ok(ModelList(names))
}

fn seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("{value:?} is not a number of seconds")),
    }
}
