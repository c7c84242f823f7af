//! One echo server, your choice of IO model: the loop server, a thread or a
//! process per connection, non-blocking busy polling, select, poll, epoll,
//! or spindle's async runtime on any backend. The models live in
//! `examples/io_models/`, one file each, with their docs.
//!
//! ```text
//! cargo run --release --example io_model -- --model select --addr 127.0.0.1:7100
//! cargo run --example io_model -- --list
//! ```
//!
//! It binds, prints `listening on ADDR` (the real address: `--addr
//! 127.0.0.1:0` picks a free port), and serves until killed. Whatever a
//! client sends comes back unchanged: try `nc 127.0.0.1 7100`.
//!
//! Models: `blocking`, `threads`, `fork`, `nonblocking`, `select`, `poll`,
//! `epoll`, `spindle-epoll`, `spindle-poll`, `spindle-select`,
//! `spindle-io_uring`, `spindle-mt` (the multi-threaded runtime, a worker per
//! CPU), `spindle-sharded` (one runtime per CPU), `spindle-sharded-uring`
//! (the same, each shard on io_uring completions) and `spindle-processes`
//! (one worker process per CPU, each with its runtime) (default: `epoll`).

// Uses only part of the module.
#[allow(dead_code)]
#[path = "io_models/mod.rs"]
mod io_models;

use std::io::{self, Write};
use std::net::TcpListener;

use clap::Parser;
use io_models::Model;

/// One echo server, your choice of IO model. Prints `listening on ADDR`
/// first (scripts read the port from it), then serves until killed.
#[derive(Parser, Debug)]
#[command(name = "io_model")]
struct Args {
    /// The IO model (see --list).
    #[arg(long, value_name = "NAME", default_value = "epoll", value_parser = parse_model)]
    model: Model,
    /// The address to listen on (port 0 picks a free one).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7100")]
    addr: String,
    /// Print the model names and exit.
    #[arg(long)]
    list: bool,
}

fn parse_model(name: &str) -> Result<Model, String> {
    Model::parse(name).ok_or_else(|| format!("unknown model {name:?} (see --list)"))
}

fn main() {
    let Args { model, addr, list } = Args::parse();
    if list {
        let mut models = Model::all();
        for m in Model::async_all().into_iter().chain(Model::multi_core()) {
            if !models.contains(&m) {
                models.push(m);
            }
        }
        for m in models {
            println!("{}", m.name());
        }
        return;
    }
    if let Err(e) = run(&model, &addr) {
        eprintln!("io_model ({}): {e}", model.name());
        std::process::exit(1);
    }
}

fn run(model: &Model, addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    if let Some(n) = model.max_conns() {
        eprintln!(
            "note: {} serves at most {n} client(s) at once",
            model.name()
        );
    }
    // Printed once the server is ready for clients (at once, except for
    // the worker processes of spindle-processes, which must start first).
    io_models::serve_announced(model, listener, |local| {
        // Scripts and tests read this line to learn the port: flush it now.
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {local}")?;
        out.flush()
    })
}
