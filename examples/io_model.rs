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
//! `spindle-io_uring` (default: `epoll`).

// Uses only part of the module.
#[allow(dead_code)]
#[path = "io_models/mod.rs"]
mod io_models;

use std::io::{self, Write};
use std::net::TcpListener;

use io_models::Model;

const USAGE: &str = "usage: io_model [--model NAME] [--addr HOST:PORT] [--list]";

fn main() {
    let (model, addr) = parse_args();
    if let Err(e) = run(&model, &addr) {
        eprintln!("io_model ({}): {e}", model.name());
        std::process::exit(1);
    }
}

fn run(model: &Model, addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    // Scripts and tests read this line to learn the port: flush it now.
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {}", listener.local_addr()?)?;
    out.flush()?;
    drop(out);
    if let Some(n) = model.max_conns() {
        eprintln!(
            "note: {} serves at most {n} client(s) at once",
            model.name()
        );
    }
    io_models::serve(model, listener)
}

/// `--model NAME` (default `epoll`), `--addr HOST:PORT` (default
/// `127.0.0.1:7100`), `--list` prints the model names and exits.
fn parse_args() -> (Model, String) {
    let mut model = Model::Epoll;
    let mut addr = "127.0.0.1:7100".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => {
                let name = args
                    .next()
                    .unwrap_or_else(|| usage("--model needs a value"));
                model = Model::parse(&name)
                    .unwrap_or_else(|| usage(&format!("unknown model {name:?} (see --list)")));
            }
            "--addr" => addr = args.next().unwrap_or_else(|| usage("--addr needs a value")),
            "--list" => {
                let mut models = Model::all();
                for m in Model::async_all() {
                    if !models.contains(&m) {
                        models.push(m);
                    }
                }
                for m in models {
                    println!("{}", m.name());
                }
                std::process::exit(0);
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    (model, addr)
}

fn usage(problem: &str) -> ! {
    if problem.is_empty() {
        println!("{USAGE}");
        std::process::exit(0);
    }
    eprintln!("io_model: {problem}\n{USAGE}");
    std::process::exit(2);
}
