//! Starting daemon children from a thread that lives as long as the
//! process.
//!
//! A daemon asks the kernel for `SIGKILL` when its parent dies
//! (`PR_SET_PDEATHSIG`). The kernel sends it when the *thread* that forked
//! the child ends, not only the process: a daemon forked by a runtime's
//! worker thread, a `spawn_blocking` thread that retires when idle, or any
//! thread that ends before the program would die with that thread. So
//! every daemon is forked by one thread kept for that purpose: started by
//! the first daemon, blocked on a channel between requests, and never
//! ending before the process does.

use std::io;
use std::process::Command;
use std::sync::{mpsc, Mutex};

/// One spawn request for the lasting thread, and where to send the child.
type SpawnRequest = (Command, mpsc::SyncSender<io::Result<std::process::Child>>);

/// Spawns `cmd` from a thread that lives as long as this process, so that
/// `PR_SET_PDEATHSIG` (which fires when the *thread* that forked the child
/// ends) means "when this process ends" (see the module docs).
pub(super) fn spawn_on_lasting_thread(cmd: Command) -> io::Result<std::process::Child> {
    // The sender is never dropped, so the thread never leaves its loop.
    static SPAWNER: Mutex<Option<mpsc::Sender<SpawnRequest>>> = Mutex::new(None);
    let mut spawner = SPAWNER.lock().unwrap_or_else(|e| e.into_inner());
    if spawner.is_none() {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("spindle-daemon-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in incoming {
                    let _ = reply.send(cmd.spawn());
                }
            })?;
        *spawner = Some(requests);
    }
    let (reply, child) = mpsc::sync_channel(1);
    let gone = || io::Error::other("the daemon-spawning thread is gone");
    spawner
        .as_ref()
        .expect("started above")
        .send((cmd, reply))
        .map_err(|_| gone())?;
    drop(spawner);
    child.recv().map_err(|_| gone())?
}
