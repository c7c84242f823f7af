//! *Course notes*: the ticket office (抢票) with processes, as the notes
//! write it with `multiprocessing.Process` and `multiprocessing.Lock`: ten
//! buyers, each a process of its own, first look up the tickets left, then
//! buy one: read the count, wait for the network, write `count - 1`. A
//! lock held from the read to the write makes the sale correct; without it
//! the office sells tickets it does not have.
//!
//! ```text
//! cargo run --example ticket_office_processes               # with the lock
//! cargo run --example ticket_office_processes -- --no-lock  # oversold
//! cargo run --example ticket_office_processes -- --buyers 20 --tickets 3
//! ```
//!
//! The last line says how many tickets were sold that the count does not
//! account for (`oversold: N`): 0 with the lock, more without it.
//!
//! # The count
//!
//! The notes keep the count in a JSON file (`{"count": 1}`), because a
//! Python global is not shared between processes: each child has a copy.
//! So is a Rust static in a spindle `Process` (the child is this program
//! started afresh). Here the count is an [`ipc::Shared<u32>`](spindle::ipc::Shared),
//! the notes' `multiprocessing.Value`: one `u32` in shared memory that
//! every buyer maps. It behaves as the file does for this lesson (a read
//! and a later write are two separate steps, and another process can come
//! in between) and leaves no file behind. `Shared::get` and `Shared::set`
//! are each atomic; what the lock protects is the *pair*, read then write.
//!
//! # The network delay
//!
//! The notes sleep `random.randint(1, 3)` seconds between the read and the
//! write, so that other processes probably run in between. Here the delay
//! is made certain instead of probable: a buyer's "reply from the network"
//! comes only once every buyer has made its move on the count (an
//! [`ipc::Event`](spindle::ipc::Event) set by the last one, the count of
//! moves kept in a `Shared<u32>`). Without the lock, a move is reading the
//! count: every buyer reads before anyone writes, the worst case a
//! random sleep can produce, every time. With the lock, nobody can read
//! while another buyer holds it, so the move is queueing for the lock:
//! the first buyer waits until all the others are waiting for it. No
//! sleeps, so the outcome does not depend on the machine's speed.
//!
//! # The lock
//!
//! [`ipc::Mutex`](spindle::ipc::Mutex) is the notes' `multiprocessing.Lock`:
//! a word in shared memory that every process holding a copy (here passed
//! to each `Process` as part of its argument) takes and releases.
//! `lock().await` waits on a blocking-pool thread, so each buyer's runtime
//! stays free. It is robust: had a buyer died holding it, the next one
//! would get `Err(OwnerDied(guard))`, still holding the lock, warned that
//! the count may be half-written.

use std::process::ExitCode;

use clap::Parser;
use spindle::ipc::{Event, Mutex, Shared};
use spindle::pool::{DecodeError, Wire};
use spindle::process::Process;

/// Sells tickets to buyer processes, with `ipc::Mutex` around each sale or
/// (`--no-lock`) without, and reports how many were oversold.
#[derive(Parser, Debug)]
#[command(name = "ticket_office_processes")]
struct Args {
    /// How many buyer processes.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=200))]
    buyers: u32,
    /// Tickets on sale (the notes' `{"count": 1}`).
    #[arg(long, value_name = "N", default_value_t = 1)]
    tickets: u32,
    /// Buy without the lock: read and write are no longer one step.
    #[arg(long)]
    no_lock: bool,
}

/// Everything the buyers share: what each `Process` gets, beside its
/// number.
#[derive(Clone)]
struct Office {
    /// Tickets left: the notes' `ticket_count.json`.
    tickets: Shared<u32>,
    /// The notes' `Lock()`, or `None` with `--no-lock`.
    lock: Option<Mutex>,
    /// How many buyers have made their move on the count (read it, or
    /// queued for the lock).
    moved: Shared<u32>,
    /// Set by the last buyer to move: the network's replies may come.
    all_moved: Event,
    /// How many buyers there are.
    buyers: u32,
}

// A struct crosses to a child field by field (each field is Wire already;
// the shared memory files travel as descriptors beside the bytes).
impl Wire for Office {
    fn encode(&self, out: &mut Vec<u8>) {
        self.tickets.encode(out);
        self.lock.encode(out);
        self.moved.encode(out);
        self.all_moved.encode(out);
        self.buyers.encode(out);
    }

    fn decode(input: &mut &[u8]) -> Result<Office, DecodeError> {
        Ok(Office {
            tickets: Wire::decode(input)?,
            lock: Wire::decode(input)?,
            moved: Wire::decode(input)?,
            all_moved: Wire::decode(input)?,
            buyers: Wire::decode(input)?,
        })
    }
}

impl Office {
    /// Counts one more move; the last one lets the replies come.
    fn moved(&self) {
        if self.moved.update(|n| n + 1) == self.buyers {
            self.all_moved.set();
        }
    }

    /// The network delay: until every buyer has made its move.
    async fn network_delay(&self) {
        self.all_moved.wait().await;
    }
}

/// The notes' `search`: looks at the count, without the lock.
fn search(name: u32, office: &Office) {
    println!("buyer {name}: {} ticket(s) left", office.tickets.get());
}

/// The notes' `buy`: read, wait for the network, write `count - 1`.
/// Returns whether this buyer got a ticket.
async fn buy(name: u32, office: &Office) -> bool {
    let seen = office.tickets.get();
    if office.lock.is_none() {
        office.moved(); // without the lock, reading is the move
    }
    office.network_delay().await;
    if seen > 0 {
        office.tickets.set(seen - 1);
        println!(
            "buyer {name}: bought a ticket (saw {seen}, wrote {})",
            seen - 1
        );
        true
    } else {
        println!("buyer {name}: sold out");
        false
    }
}

/// One buyer process: the notes' `run(name, mutex)`.
fn run((name, office): (u32, Office)) -> bool {
    spindle::block_on(async move {
        search(name, &office);
        match &office.lock {
            Some(lock) => {
                office.moved(); // with the lock, queueing for it is the move
                                // `mutex.acquire()` ... `mutex.release()` (the guard's drop).
                let _held = match lock.lock().await {
                    Ok(guard) => guard,
                    Err(died) => {
                        println!("buyer {name}: a buyer died holding the lock");
                        died.into_inner()
                    }
                };
                buy(name, &office).await
            }
            None => buy(name, &office).await,
        }
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    match spindle::block_on(sell(&args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ticket_office_processes: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the sale and prints the outcome; `Ok(false)` if the lock failed
/// to prevent an oversale (which would be a bug).
async fn sell(args: &Args) -> std::io::Result<bool> {
    let locked = !args.no_lock;
    println!(
        "== {} ticket(s), {} buyer processes, {} ==",
        args.tickets,
        args.buyers,
        if locked { "WITH ipc::Mutex" } else { "NO lock" }
    );
    let office = Office {
        tickets: Shared::new(args.tickets)?,
        lock: if locked { Some(Mutex::new()?) } else { None },
        moved: Shared::new(0)?,
        all_moved: Event::new()?,
        buyers: args.buyers,
    };
    // `for name in range(...): Process(target=run, args=(name, mutex)).start()`
    let mut buyers = Vec::new();
    for name in 1..=args.buyers {
        let process = Process::new(run, (name, office.clone()))
            .name(format!("buyer-{name}"))
            .start()?;
        buyers.push(process);
    }
    let mut sold = 0u32;
    for mut buyer in buyers {
        if buyer.join().await.map_err(std::io::Error::other)? {
            sold += 1;
        }
    }
    let left = office.tickets.get();
    // Each sale should have taken one ticket off the count; the sales the
    // count does not show are seats sold twice.
    let counted = args.tickets - left;
    let oversold = sold.saturating_sub(counted);
    println!();
    println!(
        "sold: {sold} of {} ticket(s); the count says {left} left",
        args.tickets
    );
    if oversold > 0 {
        println!(
            "without the lock every buyer read the count before any wrote it back: \
             they all saw the same tickets, and each sale overwrote the others"
        );
    } else if locked {
        println!("the lock made read-then-write one step: each buyer saw the previous sale");
    }
    println!("oversold: {oversold}");
    Ok(!(locked && oversold > 0))
}
