//! `accept` when the process is out of descriptors (`EMFILE`).
//!
//! This binary holds exactly one test because it lowers `RLIMIT_NOFILE`
//! for its whole process: nothing else may open descriptors meanwhile.
//!
//! The scenario: an established connection is being echoed, another
//! connection waits in the listener's backlog, and every descriptor number
//! below the (lowered) limit is taken. `accept` must then return `EMFILE`
//! (for the caller to log), the next `accept` must not return before the
//! back-off pause, the echoed connection must keep working meanwhile, and
//! once descriptors are freed the waiting connection must be accepted.

use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
use spindle_runtime::net::{TcpListener, TcpStream};
use spindle_runtime::spawn;

mod net_support;
use net_support::{echo, run};

fn nofile_limit() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

fn set_nofile_limit(lim: libc::rlimit) {
    // SAFETY: `lim` is a valid rlimit; lowering the soft limit is allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

/// The highest descriptor number open in this process.
fn highest_open_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap()
}

/// Lowers the limit just above the open descriptors, then opens files
/// until none is left below it. Returns the files that take the slots.
fn exhaust_descriptors(original: libc::rlimit) -> Vec<File> {
    set_nofile_limit(libc::rlimit {
        rlim_cur: highest_open_fd() + 8,
        rlim_max: original.rlim_max,
    });
    let mut fillers = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(file) => fillers.push(file),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return fillers,
            Err(e) => panic!("unexpected error while exhausting descriptors: {e}"),
        }
    }
}

#[test]
fn accept_backs_off_on_emfile_and_recovers() {
    let original = nofile_limit();
    run(async {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (served, _) = listener.accept().await.unwrap();
        spawn(echo(served));
        // Completes in the kernel's backlog; accepting it needs a new fd.
        let _waiting = std::net::TcpStream::connect(addr).unwrap();

        let fillers = exhaust_descriptors(original);

        // Three accepts in a row fail with EMFILE; the second waits at
        // least the first pause (10 ms), the third at least 20 ms.
        let acceptor = listener.clone();
        let failures = spawn(async move {
            let mut times = Vec::new();
            for _ in 0..3 {
                let err = acceptor.accept().await.unwrap_err();
                assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err:?}");
                times.push(Instant::now());
            }
            times
        });
        // The established connection is served meanwhile.
        for i in 0..20u32 {
            let msg = i.to_be_bytes();
            client.write_all(&msg).await.unwrap();
            let mut reply = [0u8; 4];
            client.read_exact(&mut reply).await.unwrap();
            assert_eq!(reply, msg);
        }
        let times = failures.await.unwrap();
        assert!(times[1] - times[0] >= Duration::from_millis(10));
        assert!(times[2] - times[1] >= Duration::from_millis(20));

        // Free the descriptors: the waiting connection is accepted.
        drop(fillers);
        let (accepted, _) = listener.accept().await.unwrap();
        drop(accepted);
        client.write_all(b"done").await.unwrap();
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"done");
    });
    set_nofile_limit(original);
}
