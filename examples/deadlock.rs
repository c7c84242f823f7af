//! *Course notes*: deadlock (死锁现象), "two people each holding the other's
//! key": one takes lock A then B, the other B then A. Each gets its first
//! key and waits forever for the second. Shown twice, between two tasks
//! (`spindle::sync::Mutex`) and between two processes (`ipc::Mutex`, the
//! notes' `multiprocessing.Lock`), then cured twice.
//!
//! ```text
//! cargo run --example deadlock
//! ```
//!
//! # The deadlock, for certain
//!
//! The notes' threads usually deadlock, when the timing is unlucky
//! (`time.sleep(0.1)` makes it likely). Here it is made certain without a
//! sleep: after taking its first key each side waits at a barrier for the
//! other to hold its own (a [`Barrier`] between the tasks, two
//! [`ipc::Event`](spindle::ipc::Event)s between the processes). Only then
//! does it ask for the second key, which the other holds.
//!
//! # Detecting it
//!
//! A deadlocked program just stops; nothing fails. So each side asks for
//! its second key under [`timeout`]: if it has not come within
//! [`PATIENCE`], the side reports that it is stuck. It keeps its first key
//! until the other side has given up too (a second barrier), so that both
//! see the deadlock: had it let go at once, the other would take the key
//! and the demonstration would depend on which timer fired first.
//!
//! # The four conditions, and the cures
//!
//! A deadlock needs all four of these (Coffman's conditions, the notes'
//! 互斥条件, 占有和等待条件, 不可剥夺条件, 循环等待条件); removing any one
//! prevents it:
//!
//! 1. *mutual exclusion*: a key is held by one side at a time;
//! 2. *hold and wait*: a side holds one key while it waits for another;
//! 3. *no preemption*: nobody takes a key away from its holder;
//! 4. *circular wait*: 1 waits for 2's key, and 2 for 1's.
//!
//! The two cures the notes give:
//!
//! * **Lock ordering** (使用锁的顺序): both take A before B. Whoever holds
//!   B already holds A, so nobody can hold B while waiting for A: the
//!   *circular wait* cannot form. Both sides run many rounds and finish.
//! * **Timeout and back off** (使用超时机制): a side that cannot get its
//!   second key in time puts its first back, waits a little (each side a
//!   different time, so that they do not collide again in step) and
//!   starts over. A key is taken back from a side that waits for another:
//!   *no preemption* no longer holds. (It is sometimes told as breaking
//!   hold-and-wait: nobody holds and waits for long.) Here both sides
//!   start as in the deadlock, both holding their first key, and still
//!   finish.
//!
//! The program exits 0 once both deadlocks were detected and both cures
//! completed, in tasks and in processes; a watchdog ends it with status 1
//! if anything takes more than [`WATCHDOG`].

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use spindle::ipc::{self, Event};
use spindle::pool::{DecodeError, Wire};
use spindle::process::Process;
use spindle::sync::{Barrier, Mutex};
use spindle::time::{sleep, timeout};

/// The two-lock deadlock, between two tasks and between two processes:
/// detected with a timeout, then cured by lock ordering and by timeout and
/// back-off. Takes no arguments.
#[derive(Parser, Debug)]
#[command(name = "deadlock")]
struct Args {}

/// How long a side waits for its second key before calling it a deadlock.
const PATIENCE: Duration = Duration::from_millis(300);
/// How long a side that gave up waits for the other to give up too.
const GIVE_UP_WAIT: Duration = Duration::from_secs(10);
/// Rounds each side runs in the lock-ordering cure.
const ROUNDS: u32 = 500;
/// Attempts a side makes in the back-off cure before it gives up.
const ATTEMPTS: u32 = 10;
/// The whole program's bound.
const WATCHDOG: Duration = Duration::from_secs(50);

/// The names of the keys.
const A: &str = "A";
const B: &str = "B";

/// What the two sides do: each a number, so it can be sent to a process.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Opposite orders, both holding their first key before asking for the
    /// second: the deadlock.
    Deadlock = 0,
    /// Both take A then B, [`ROUNDS`] times.
    Ordered = 1,
    /// Opposite orders as in the deadlock, but giving the first key back
    /// when the second does not come in time.
    BackOff = 2,
}

impl Plan {
    fn from_u8(n: u8) -> Plan {
        match n {
            0 => Plan::Deadlock,
            1 => Plan::Ordered,
            _ => Plan::BackOff,
        }
    }
}

/// How one side's part ended.
#[derive(Debug)]
enum Outcome {
    /// Never got its second key: stuck.
    Stuck,
    /// Finished, after this many back-offs.
    Done { retries: u32 },
    /// Something unexpected (the other side never gave up, say).
    Failed(String),
}

/// The keys in side `me`'s order (side 1: A then B; side 2: B then A, or
/// A then B too under `Plan::Ordered`).
fn order(me: u8, plan: Plan) -> (&'static str, &'static str) {
    if me == 1 || plan == Plan::Ordered {
        (A, B)
    } else {
        (B, A)
    }
}

/// Side `me`'s back-off after its `retry`-th failed try: side 1 waits
/// less than side 2, so that they do not collide again in step.
fn back_off(me: u8, retry: u32) -> Duration {
    Duration::from_millis(u64::from(me) * 40 * u64::from(retry))
}

// ------------------------------------------------------------------ tasks

/// What two tasks share.
struct Table {
    a: Mutex<()>,
    b: Mutex<()>,
    /// Both hold their first key.
    both_hold: Barrier,
    /// Both gave up waiting for their second.
    both_gave_up: Barrier,
}

impl Table {
    fn key(&self, name: &str) -> &Mutex<()> {
        if name == A {
            &self.a
        } else {
            &self.b
        }
    }
}

/// Side `me` as a task.
async fn task_side(me: u8, plan: Plan, table: Arc<Table>) -> Outcome {
    let (first, second) = order(me, plan);
    let (first_key, second_key) = (table.key(first), table.key(second));
    match plan {
        Plan::Deadlock => {
            let _held = first_key.lock().await;
            println!("  task {me}: holds key {first}, asks for {second}");
            table.both_hold.wait().await;
            match timeout(PATIENCE, second_key.lock()).await {
                Ok(_both) => Outcome::Done { retries: 0 },
                Err(_) => {
                    println!("  task {me}: no key {second} after {PATIENCE:?}: stuck");
                    match timeout(GIVE_UP_WAIT, table.both_gave_up.wait()).await {
                        Ok(_) => Outcome::Stuck,
                        Err(_) => Outcome::Failed("the other task never gave up".into()),
                    }
                }
            }
        }
        Plan::Ordered => {
            table.both_hold.wait().await; // start together
            for _ in 0..ROUNDS {
                let _one = first_key.lock().await;
                let _two = second_key.lock().await;
                spindle::yield_now().await; // use both, letting the other run
            }
            Outcome::Done { retries: 0 }
        }
        Plan::BackOff => {
            let mut retries = 0;
            loop {
                let held = first_key.lock().await;
                if retries == 0 {
                    table.both_hold.wait().await; // the deadlock's unlucky start
                }
                match timeout(PATIENCE, second_key.lock()).await {
                    Ok(_both) => return Outcome::Done { retries },
                    Err(_) if retries + 1 == ATTEMPTS => {
                        return Outcome::Failed(format!("no key {second} in {ATTEMPTS} tries"));
                    }
                    Err(_) => {
                        drop(held); // put the first key back
                        retries += 1;
                        let wait = back_off(me, retries);
                        println!(
                            "  task {me}: no key {second}: puts {first} back, retries in {wait:?}"
                        );
                        sleep(wait).await;
                    }
                }
            }
        }
    }
}

/// Runs both sides as tasks.
async fn tasks(plan: Plan) -> Vec<Outcome> {
    let table = Arc::new(Table {
        a: Mutex::new(()),
        b: Mutex::new(()),
        both_hold: Barrier::new(2),
        both_gave_up: Barrier::new(2),
    });
    let sides: Vec<_> = [1, 2]
        .into_iter()
        .map(|me| spindle::spawn(task_side(me, plan, table.clone())))
        .collect();
    let mut outcomes = Vec::new();
    for side in sides {
        outcomes.push(
            side.await
                .unwrap_or_else(|e| Outcome::Failed(format!("task failed: {e}"))),
        );
    }
    outcomes
}

// -------------------------------------------------------------- processes

/// What two processes share: the keys, and the events that order them.
#[derive(Clone)]
struct Keys {
    a: ipc::Mutex,
    b: ipc::Mutex,
    /// Set by side 1 / side 2 once it holds its first key (or is ready to
    /// start).
    holds: (Event, Event),
    /// Set by side 1 / side 2 once it gave up on its second key.
    gave_up: (Event, Event),
}

impl Keys {
    fn new() -> std::io::Result<Keys> {
        Ok(Keys {
            a: ipc::Mutex::new()?,
            b: ipc::Mutex::new()?,
            holds: (Event::new()?, Event::new()?),
            gave_up: (Event::new()?, Event::new()?),
        })
    }

    fn key(&self, name: &str) -> &ipc::Mutex {
        if name == A {
            &self.a
        } else {
            &self.b
        }
    }

    /// A two-side barrier out of two events: sets `me`'s, waits for the
    /// other's (at most `limit`; false if it did not come).
    async fn meet(events: &(Event, Event), me: u8, limit: Duration) -> bool {
        let (mine, theirs) = if me == 1 {
            (&events.0, &events.1)
        } else {
            (&events.1, &events.0)
        };
        mine.set();
        timeout(limit, theirs.wait()).await.is_ok()
    }
}

// Each field in order (the locks and events travel as descriptors of their
// shared memory).
impl Wire for Keys {
    fn encode(&self, out: &mut Vec<u8>) {
        self.a.encode(out);
        self.b.encode(out);
        self.holds.encode(out);
        self.gave_up.encode(out);
    }

    fn decode(input: &mut &[u8]) -> Result<Keys, DecodeError> {
        Ok(Keys {
            a: Wire::decode(input)?,
            b: Wire::decode(input)?,
            holds: Wire::decode(input)?,
            gave_up: Wire::decode(input)?,
        })
    }
}

/// Takes an `ipc::Mutex`; a previous owner's death (none here) changes
/// nothing for the keys, which protect no data.
async fn take(key: &ipc::Mutex) -> ipc::MutexGuard<'_> {
    key.lock().await.unwrap_or_else(ipc::OwnerDied::into_inner)
}

/// Side `me` as a process: the function each `Process` runs. Returns how
/// it ended, as text (`stuck`, `done N`, or why it failed).
fn process_side((me, plan, keys): (u8, u8, Keys)) -> String {
    let plan = Plan::from_u8(plan);
    let outcome = spindle::block_on(process_part(me, plan, &keys));
    match outcome {
        Outcome::Stuck => "stuck".to_string(),
        Outcome::Done { retries } => format!("done {retries}"),
        Outcome::Failed(why) => format!("failed: {why}"),
    }
}

async fn process_part(me: u8, plan: Plan, keys: &Keys) -> Outcome {
    let (first, second) = order(me, plan);
    let (first_key, second_key) = (keys.key(first), keys.key(second));
    let pid = std::process::id();
    match plan {
        Plan::Deadlock => {
            let _held = take(first_key).await;
            println!("  process {me} (pid {pid}): holds key {first}, asks for {second}");
            if !Keys::meet(&keys.holds, me, GIVE_UP_WAIT).await {
                return Outcome::Failed("the other process never took its key".into());
            }
            match timeout(PATIENCE, take(second_key)).await {
                Ok(_both) => Outcome::Done { retries: 0 },
                Err(_) => {
                    println!("  process {me}: no key {second} after {PATIENCE:?}: stuck");
                    if Keys::meet(&keys.gave_up, me, GIVE_UP_WAIT).await {
                        Outcome::Stuck
                    } else {
                        Outcome::Failed("the other process never gave up".into())
                    }
                }
            }
        }
        Plan::Ordered => {
            if !Keys::meet(&keys.holds, me, GIVE_UP_WAIT).await {
                return Outcome::Failed("the other process never started".into());
            }
            for _ in 0..ROUNDS {
                let _one = take(first_key).await;
                let _two = take(second_key).await;
            }
            Outcome::Done { retries: 0 }
        }
        Plan::BackOff => {
            let mut retries = 0;
            loop {
                let held = take(first_key).await;
                if retries == 0 && !Keys::meet(&keys.holds, me, GIVE_UP_WAIT).await {
                    return Outcome::Failed("the other process never took its key".into());
                }
                match timeout(PATIENCE, take(second_key)).await {
                    Ok(_both) => return Outcome::Done { retries },
                    Err(_) if retries + 1 == ATTEMPTS => {
                        return Outcome::Failed(format!("no key {second} in {ATTEMPTS} tries"));
                    }
                    Err(_) => {
                        drop(held);
                        retries += 1;
                        let wait = back_off(me, retries);
                        println!("  process {me}: no key {second}: puts {first} back, retries in {wait:?}");
                        sleep(wait).await;
                    }
                }
            }
        }
    }
}

/// Runs both sides as processes (each with fresh keys).
async fn processes(plan: Plan) -> std::io::Result<Vec<Outcome>> {
    let keys = Keys::new()?;
    let mut sides = Vec::new();
    for me in [1u8, 2] {
        let side = Process::new(process_side, (me, plan as u8, keys.clone()))
            .name(format!("deadlock-{me}"))
            .daemon(true)
            .start()?;
        sides.push(side);
    }
    let mut outcomes = Vec::new();
    for mut side in sides {
        let outcome = match side.join().await {
            Ok(text) if text == "stuck" => Outcome::Stuck,
            Ok(text) => match text.strip_prefix("done ").and_then(|n| n.parse().ok()) {
                Some(retries) => Outcome::Done { retries },
                None => Outcome::Failed(text),
            },
            Err(e) => Outcome::Failed(format!("process failed: {e}")),
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

// ------------------------------------------------------------------ report

fn print_conditions(who: &str) {
    println!("  the four conditions of a deadlock, all present here:");
    println!("    1. mutual exclusion: a key is held by one {who} at a time");
    println!("    2. hold and wait: each {who} holds one key while it waits for the other");
    println!("    3. no preemption: nobody takes a key from the {who} that holds it");
    println!(
        "    4. circular wait: {who} 1 waits for B, held by 2; {who} 2 waits for A, held by 1"
    );
}

/// The whole story for one kind of side (`who`: `tasks` or `processes`,
/// `one` of them: `task` or `process`); true if
/// the deadlock was detected and both cures completed.
async fn show<F, Fut>((who, one): (&str, &str), run: F) -> bool
where
    F: Fn(Plan) -> Fut,
    Fut: std::future::Future<Output = Vec<Outcome>>,
{
    let mut ok = true;
    println!("-- {who}: side 1 takes A then B, side 2 takes B then A");
    let outcomes = run(Plan::Deadlock).await;
    if outcomes.iter().all(|o| matches!(o, Outcome::Stuck)) {
        println!(
            "deadlock detected between {who}: each holds one key and waited {PATIENCE:?} \
             for the other's"
        );
        print_conditions(one);
    } else {
        println!("NO deadlock between {who}: {outcomes:?}");
        ok = false;
    }

    println!("-- {who}, cure 1: both take A then B ({ROUNDS} rounds each)");
    let started = Instant::now();
    let outcomes = run(Plan::Ordered).await;
    if outcomes.iter().all(|o| matches!(o, Outcome::Done { .. })) {
        println!(
            "cured between {who} by lock ordering (breaks circular wait): both finished \
             {ROUNDS} rounds in {:?}",
            started.elapsed()
        );
    } else {
        println!("lock ordering FAILED between {who}: {outcomes:?}");
        ok = false;
    }

    println!("-- {who}, cure 2: opposite orders, but give the first key back after {PATIENCE:?}");
    let outcomes = run(Plan::BackOff).await;
    let retries: Option<Vec<u32>> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Done { retries } => Some(*retries),
            _ => None,
        })
        .collect();
    match retries {
        Some(retries) => println!(
            "cured between {who} by timeout and back-off (breaks no preemption): both \
             finished, after {} and {} back-off(s)",
            retries[0], retries[1]
        ),
        None => {
            println!("timeout and back-off FAILED between {who}: {outcomes:?}");
            ok = false;
        }
    }
    println!();
    ok
}

fn main() -> ExitCode {
    Args::parse();
    let all = async {
        println!("== two tasks, spindle::sync::Mutex ==");
        let tasks_ok = show(("tasks", "task"), tasks).await;
        println!("== two processes, ipc::Mutex ==");
        let processes_ok = show(("processes", "process"), |plan| async move {
            processes(plan).await.unwrap_or_else(|e| {
                vec![Outcome::Failed(format!(
                    "could not start the processes: {e}"
                ))]
            })
        })
        .await;
        tasks_ok && processes_ok
    };
    match spindle::block_on(timeout(WATCHDOG, all)) {
        Ok(true) => {
            println!("every deadlock detected, every cure completed");
            ExitCode::SUCCESS
        }
        Ok(false) => ExitCode::FAILURE,
        Err(_) => {
            println!("gave up after {WATCHDOG:?}");
            ExitCode::FAILURE
        }
    }
}
