//! The ticket office (抢票) from the course notes: one ticket left, many
//! buyers. Each buyer reads the count, waits a little (the notes'
//! `time.sleep(0.1)`, "network delay"), and writes `count - 1` if it saw a
//! ticket.
//!
//! ```text
//! cargo run --release --example ticket_office
//! cargo run --release --example ticket_office -- --buyers 10
//! ```
//!
//! * Without a lock the read and the write are separated by an `.await`
//!   (here `spindle::yield_now()`), so every buyer reads "1 ticket left"
//!   before anyone writes: the office sells the one ticket to all of them.
//!   This runs on one thread with `Rc<Cell<u32>>` and `spawn_local`: there
//!   is no data race in the Rust sense (nothing is touched by two threads),
//!   the race is *logical*, between tasks interleaved at their `.await`s.
//! * With a `spindle::sync::Mutex` held from the read to the write, the
//!   check-then-act is one step for everybody else: exactly one buyer gets
//!   the ticket, the others see 0.

use std::cell::{Cell, RefCell};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;

use clap::Parser;
use spindle::sync::Mutex;

const TICKETS: u32 = 1;

/// Sells one ticket to several buyers, first without a lock (a race: it
/// is sold more than once), then with `spindle::sync::Mutex` (sold once).
#[derive(Parser, Debug)]
#[command(name = "ticket_office")]
struct Args {
    /// How many buyers race for the ticket (at least 2, to show a race).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..))]
    buyers: u32,
}

/// Every buyer reads, "waits for the network", then writes; no lock.
async fn without_lock(buyers: usize) -> (Vec<usize>, u32) {
    let tickets = Rc::new(Cell::new(TICKETS));
    let sold_to = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..buyers)
        .map(|buyer| {
            let tickets = tickets.clone();
            let sold_to = sold_to.clone();
            spindle::spawn_local(async move {
                let seen = tickets.get(); // read
                println!("  buyer {buyer}: sees {seen} ticket(s) left");
                spindle::yield_now().await; // the network delay: others run now
                if seen > 0 {
                    tickets.set(seen - 1); // write what it computed from a stale read
                    sold_to.borrow_mut().push(buyer);
                    println!("  buyer {buyer}: bought a ticket! (writes {})", seen - 1);
                } else {
                    println!("  buyer {buyer}: sold out");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("buyer panicked");
    }
    let sold = sold_to.borrow().clone();
    (sold, tickets.get())
}

/// The same buyers, holding a `Mutex` from the read to the write.
async fn with_lock(buyers: usize) -> (Vec<usize>, u32) {
    let tickets = Arc::new(Mutex::new(TICKETS));
    let sold_to = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..buyers)
        .map(|buyer| {
            let tickets = tickets.clone();
            let sold_to = sold_to.clone();
            spindle::spawn(async move {
                let mut count = tickets.lock().await; // `with mutex:`
                let seen = *count;
                println!("  buyer {buyer}: holds the lock, sees {seen} ticket(s) left");
                spindle::yield_now().await; // the same delay, lock still held
                if seen > 0 {
                    *count = seen - 1;
                    sold_to.lock().await.push(buyer);
                    println!("  buyer {buyer}: bought a ticket! (writes {})", seen - 1);
                } else {
                    println!("  buyer {buyer}: sold out");
                }
                // The guard drops here: the lock goes to the next buyer in line.
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("buyer panicked");
    }
    let sold = sold_to.lock().await.clone();
    let left = *tickets.lock().await;
    (sold, left)
}

fn main() -> ExitCode {
    let buyers = Args::parse().buyers as usize;

    println!("== {TICKETS} ticket, {buyers} buyers, NO lock ==");
    let (unlocked_sold, unlocked_left) = spindle::block_on(without_lock(buyers));
    println!(
        "result without lock: {} buyers got \"the last ticket\": {:?}; {} left",
        unlocked_sold.len(),
        unlocked_sold,
        unlocked_left
    );
    println!();

    println!("== {TICKETS} ticket, {buyers} buyers, WITH spindle::sync::Mutex ==");
    let (locked_sold, locked_left) = spindle::block_on(with_lock(buyers));
    println!(
        "result with lock: {} buyer got the ticket: {:?}; {} left",
        locked_sold.len(),
        locked_sold,
        locked_left
    );
    println!();

    println!("why:");
    println!(
        "  Without the lock each buyer's read and write are split by an .await. Every\n  \
         buyer reads 1 before the first one writes 0, so all {} of them \"buy\" it:\n  \
         oversold by {}. One thread, no data race: the race is between tasks, at\n  \
         their await points, exactly like the notes' processes around time.sleep.",
        unlocked_sold.len(),
        unlocked_sold.len() as u32 - TICKETS.min(unlocked_sold.len() as u32)
    );
    println!(
        "  With the Mutex held across read-wait-write, the other buyers queue on\n  \
         lock() (first come, first served) and read the count only after the\n  \
         previous buyer wrote it: exactly {TICKETS} sale."
    );

    let ok = unlocked_sold.len() > TICKETS as usize && locked_sold.len() == TICKETS as usize;
    if ok {
        println!("OK: oversold without the lock, exactly one sale with it");
        ExitCode::SUCCESS
    } else {
        println!("UNEXPECTED: the outcomes differ from what the example shows");
        ExitCode::FAILURE
    }
}
