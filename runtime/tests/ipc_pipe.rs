//! `ipc::pipe` and `ipc::pipe_one_way` inside one process: round trips
//! (async, blocking, between threads and between runtimes), values of every
//! size, descriptors inside values, the other end going away, and futures
//! cancelled while they wait. (Between processes: `ipc_fork.rs`.)

mod support;

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use spindle_runtime::ipc::{self, Pipe, PipeReceiver, PipeSender, Queue};
use spindle_runtime::pool::{DecodeError, Wire};
use spindle_runtime::Runtime;
use support::{bounded, poll_a_while, run, run_turning, stays_pending};

#[test]
fn async_round_trip_both_ways() {
    run(|| async {
        let (a, b) = ipc::pipe::<(u32, String)>().unwrap();
        a.send((1, "one".into())).await.unwrap();
        a.send((2, "two".into())).await.unwrap();
        assert_eq!(b.recv().await.unwrap(), (1, "one".into()));
        assert_eq!(b.recv().await.unwrap(), (2, "two".into()));
        b.send((3, "three".into())).await.unwrap();
        assert_eq!(a.recv().await.unwrap(), (3, "three".into()));
    });
}

#[test]
fn one_way_async_with_a_waiting_receiver() {
    run(|| async {
        let (tx, rx) = ipc::pipe_one_way::<u64>().unwrap();
        let receiver = spindle_runtime::spawn(async move {
            let mut sum = 0;
            for _ in 0..1000 {
                sum += rx.recv().await.unwrap();
            }
            sum
        });
        for i in 0..1000 {
            tx.send(i).await.unwrap();
        }
        assert_eq!(receiver.await.unwrap(), 499_500);
    });
}

#[test]
fn blocking_round_trip_between_threads() {
    bounded(10, || {
        let (a, b) = ipc::pipe::<u64>().unwrap();
        let echo = thread::spawn(move || {
            while let Ok(v) = b.blocking_recv() {
                b.blocking_send(v * 2).unwrap();
            }
        });
        for i in 0..1000 {
            a.blocking_send(i).unwrap();
            assert_eq!(a.blocking_recv().unwrap(), i * 2);
        }
        drop(a);
        echo.join().unwrap();
    });
}

#[test]
fn ping_pong_between_two_runtimes() {
    bounded(10, || {
        let (a, b) = ipc::pipe::<u32>().unwrap();
        let other = thread::spawn(move || {
            Runtime::new().unwrap().block_on(async move {
                loop {
                    match b.recv().await {
                        Ok(v) => b.send(v + 1).await.unwrap(),
                        Err(e) => break e.kind(),
                    }
                }
            })
        });
        Runtime::new().unwrap().block_on(async move {
            let mut v = 0;
            for _ in 0..500 {
                a.send(v).await.unwrap();
                v = a.recv().await.unwrap() + 1;
            }
            assert_eq!(v, 1000);
        });
        assert_eq!(other.join().unwrap(), io::ErrorKind::UnexpectedEof);
    });
}

/// A task awaiting `recv()` asks its runtime to look again for a moment
/// before it sleeps (`executor/reply_spin.rs`). Meanwhile the runtime must
/// still run what other threads wake and fire its timers.
#[test]
fn a_runtime_between_pipe_messages_still_serves_other_threads_and_timers() {
    bounded(20, || {
        let (a, b) = ipc::pipe::<u64>().unwrap();
        let echo = thread::spawn(move || {
            while let Ok(v) = b.blocking_recv() {
                b.blocking_send(v + 1).unwrap();
            }
        });
        support::current_thread().block_on(async move {
            let pings = spindle_runtime::spawn(async move {
                let mut v = 0;
                for _ in 0..2000 {
                    a.send(v).await.unwrap();
                    v = a.recv().await.unwrap();
                }
                v
            });
            let offloaded = spindle_runtime::spawn(async {
                let mut sum = 0;
                for i in 0..200u64 {
                    sum += spindle_runtime::spawn_blocking(move || i).await.unwrap();
                }
                sum
            });
            for _ in 0..20 {
                spindle_runtime::time::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(pings.await.unwrap(), 2000);
            assert_eq!(offloaded.await.unwrap(), 19_900);
        });
        echo.join().unwrap();
    });
}

#[test]
fn one_end_moves_from_runtime_to_runtime() {
    bounded(10, || {
        let (a, b) = ipc::pipe::<u8>().unwrap();
        // The first runtime registers both ends, then shuts down.
        Runtime::new().unwrap().block_on(async {
            a.send(1).await.unwrap();
            assert_eq!(b.recv().await.unwrap(), 1);
        });
        // The next one, on another thread, must not wait on the dead one.
        thread::spawn(move || {
            Runtime::new().unwrap().block_on(async {
                let reader = async { b.recv().await.unwrap() };
                let writer = async { a.send(2).await.unwrap() };
                let (got, ()) = spindle_runtime::join!(reader, writer);
                assert_eq!(got, 2);
            })
        })
        .join()
        .unwrap();
    });
}

#[test]
fn one_end_used_by_two_live_runtimes_at_once() {
    bounded(10, || {
        let (tx, rx) = ipc::pipe_one_way::<u32>().unwrap();
        let rx = std::sync::Arc::new(rx);
        let (got_tx, got_rx) = mpsc::channel();
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let (rx, got_tx) = (rx.clone(), got_tx.clone());
                thread::spawn(move || {
                    Runtime::new().unwrap().block_on(async move {
                        while let Ok(v) = rx.recv().await {
                            got_tx.send(v).unwrap();
                        }
                    })
                })
            })
            .collect();
        for i in 0..2000 {
            tx.blocking_send(i).unwrap();
        }
        drop(tx);
        for r in receivers {
            r.join().unwrap();
        }
        drop(got_tx);
        let mut got: Vec<u32> = got_rx.iter().collect();
        got.sort_unstable();
        assert_eq!(got, (0..2000).collect::<Vec<_>>());
    });
}

#[test]
fn values_of_every_size_arrive_whole() {
    // Around the inline limit (64 KiB of encoding: the Vec's 8-byte length
    // and its bytes), and far beyond it: a 4 MiB value goes out of line.
    let sizes = [
        0,
        1,
        64 * 1024 - 9,
        64 * 1024 - 8,
        64 * 1024 - 7,
        200 * 1024,
        4 * 1024 * 1024,
    ];
    run(move || async move {
        let (a, b) = ipc::pipe::<Vec<u8>>().unwrap();
        for len in sizes {
            let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let (sent, got) = spindle_runtime::join!(a.send(value.clone()), b.recv());
            sent.unwrap();
            assert!(
                got.unwrap() == value,
                "a {len}-byte value changed on the way"
            );
        }
    });
    bounded(10, move || {
        let (tx, rx) = ipc::pipe_one_way::<Vec<u8>>().unwrap();
        let sender = thread::spawn(move || {
            for len in sizes {
                tx.blocking_send(vec![7; len]).unwrap();
            }
        });
        for len in sizes {
            assert!(rx.blocking_recv().unwrap() == vec![7; len]);
        }
        sender.join().unwrap();
    });
}

#[test]
fn many_large_values_queue_up_behind_a_slow_receiver() {
    run(|| async {
        let (tx, rx) = ipc::pipe_one_way::<Vec<u8>>().unwrap();
        let sender = spindle_runtime::spawn(async move {
            for i in 0..20u8 {
                tx.send(vec![i; 300 * 1024]).await.unwrap();
            }
        });
        for i in 0..20u8 {
            let v = rx.recv().await.unwrap();
            assert!(v.len() == 300 * 1024 && v.iter().all(|&b| b == i));
        }
        sender.await.unwrap();
    });
}

#[test]
fn a_sender_that_often_waits_for_room_loses_nothing() {
    // 10 KB values fill the socket's buffer after a score of them: the
    // sender waits for room again and again (a registration for writing
    // is made and dropped each time), on this runtime and on a thread.
    run(|| async {
        let (tx, rx) = ipc::pipe_one_way::<Vec<u8>>().unwrap();
        let sender = spindle_runtime::spawn(async move {
            for i in 0..2000u32 {
                tx.send(vec![(i % 256) as u8; 10_000]).await.unwrap();
            }
        });
        for i in 0..2000u32 {
            let v = rx.recv().await.unwrap();
            assert!(v.len() == 10_000 && v[0] == (i % 256) as u8);
            if i % 3 == 0 {
                spindle_runtime::task::yield_now().await;
            }
        }
        sender.await.unwrap();
    });
    bounded(10, || {
        let (tx, rx) = ipc::pipe_one_way::<Vec<u8>>().unwrap();
        let receiver = thread::spawn(move || {
            (0..2000u32).all(|i| rx.blocking_recv().unwrap()[0] == (i % 256) as u8)
        });
        Runtime::new().unwrap().block_on(async move {
            for i in 0..2000u32 {
                tx.send(vec![(i % 256) as u8; 10_000]).await.unwrap();
            }
        });
        assert!(receiver.join().unwrap());
    });
}

#[test]
fn recv_after_the_other_end_is_dropped_drains_then_fails_clearly() {
    run(|| async {
        let (a, b) = ipc::pipe::<u32>().unwrap();
        a.send(1).await.unwrap();
        a.send(2).await.unwrap();
        drop(a);
        assert_eq!(b.recv().await.unwrap(), 1);
        assert_eq!(b.recv().await.unwrap(), 2);
        let e = b.recv().await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(e.to_string().contains("other end is closed"), "{e}");
        // And again: the end stays at its end.
        assert_eq!(
            b.recv().await.unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let e = b.send(3).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert!(e.to_string().contains("closed"), "{e}");
    });
    bounded(10, || {
        let (tx, rx) = ipc::pipe_one_way::<u32>().unwrap();
        drop(tx);
        assert_eq!(
            rx.blocking_recv().unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let (tx, rx) = ipc::pipe_one_way::<u32>().unwrap();
        drop(rx);
        assert_eq!(
            tx.blocking_send(1).unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    });
}

#[test]
fn a_waiting_recv_wakes_when_the_other_end_goes() {
    run(|| async {
        let (tx, rx) = ipc::pipe_one_way::<u32>().unwrap();
        let waiter = spindle_runtime::spawn(async move { rx.recv().await });
        spindle_runtime::task::yield_now().await;
        drop(tx);
        let e = waiter.await.unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    });
    bounded(10, || {
        let (tx, rx) = ipc::pipe_one_way::<u32>().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        let waiter = thread::spawn(move || {
            ready_tx.send(()).unwrap();
            rx.blocking_recv()
        });
        ready_rx.recv().unwrap();
        drop(tx); // wakes the thread whether it is in poll(2) yet or not
        let e = waiter.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    });
}

/// Fills the pipe until a send waits; returns how many went in.
async fn fill(tx: &PipeSender<u64>) -> u64 {
    let mut sent = 0;
    while let Some(result) = poll_a_while(tx.send(sent)).await {
        result.unwrap();
        sent += 1;
    }
    sent
}

#[test]
fn a_sender_waiting_for_room_wakes_when_the_receiver_goes() {
    run_turning(|| async {
        let (tx, rx) = ipc::pipe_one_way::<u64>().unwrap();
        let queued = fill(&tx).await;
        assert!(queued > 10, "only {queued} fitted");
        let sender = spindle_runtime::spawn(async move { tx.send(u64::MAX).await });
        spindle_runtime::task::yield_now().await;
        drop(rx);
        let e = sender.await.unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    });
    // A blocking sender, asleep in sendmsg.
    bounded(10, || {
        let (tx, rx) = ipc::pipe_one_way::<Vec<u8>>().unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let sender = thread::spawn(move || {
            started_tx.send(()).unwrap();
            loop {
                if let Err(e) = tx.blocking_send(vec![0; 1000]) {
                    return e.kind();
                }
            }
        });
        started_rx.recv().unwrap();
        drop(rx); // whether the sender is asleep yet or not
        assert_eq!(sender.join().unwrap(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn a_cancelled_send_sends_nothing() {
    run_turning(|| async {
        let (tx, rx) = ipc::pipe_one_way::<u64>().unwrap();
        let queued = fill(&tx).await;
        // A send waiting for room, cancelled.
        assert!(stays_pending(tx.send(u64::MAX)).await);
        for i in 0..queued {
            assert_eq!(rx.recv().await.unwrap(), i);
        }
        // Nothing else is there: the cancelled value was never sent.
        assert!(stays_pending(rx.recv()).await);
        tx.send(7).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), 7);
    });
}

#[test]
fn a_cancelled_recv_takes_nothing() {
    run(|| async {
        let (tx, rx) = ipc::pipe_one_way::<u32>().unwrap();
        for i in 0..100 {
            // Waiting (registered with the reactor), then cancelled...
            assert!(stays_pending(rx.recv()).await);
            // ...while the value is on its way.
            tx.send(i).await.unwrap();
            assert_eq!(rx.recv().await.unwrap(), i);
        }
    });
}

#[test]
fn receivers_cancelled_at_random_points_lose_nothing() {
    // Timeouts here only cut waits short at arbitrary moments (they order
    // nothing): every value must still arrive exactly once.
    bounded(20, || {
        let (tx, rx) = ipc::pipe_one_way::<u32>().unwrap();
        let sender = thread::spawn(move || {
            for i in 0..5000 {
                tx.blocking_send(i).unwrap();
                if i % 64 == 0 {
                    thread::yield_now();
                }
            }
        });
        Runtime::new().unwrap().block_on(async move {
            let mut next = 0;
            while next < 5000 {
                let wait = Duration::from_micros(u64::from(next % 7 + 1) * 20);
                if let Ok(got) = spindle_runtime::time::timeout(wait, rx.recv()).await {
                    assert_eq!(got.unwrap(), next);
                    next += 1;
                }
            }
        });
        sender.join().unwrap();
    });
}

#[test]
fn pipe_ends_and_descriptors_travel_inside_values() {
    run(|| async {
        // A pipe end sent through another pipe is an end of the same pipe.
        let (carrier_tx, carrier_rx) = ipc::pipe_one_way::<PipeSender<String>>().unwrap();
        let (tx, rx) = ipc::pipe_one_way::<String>().unwrap();
        carrier_tx.send(tx).await.unwrap();
        let tx2 = carrier_rx.recv().await.unwrap();
        tx2.send("through a passed end".into()).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), "through a passed end");
        drop(tx2); // the last copy of the sending end
        assert_eq!(
            rx.recv().await.unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );

        // Duplex ends, receivers and queues, several per value.
        let (carrier_a, carrier_b) =
            ipc::pipe::<(Pipe<u8>, PipeReceiver<u8>, Queue<u8>)>().unwrap();
        let (p1, p2) = ipc::pipe::<u8>().unwrap();
        let (s, r) = ipc::pipe_one_way::<u8>().unwrap();
        let q = Queue::<u8>::new(4).unwrap();
        carrier_a.send((p2, r, q.clone())).await.unwrap();
        let (p2, r, q2) = carrier_b.recv().await.unwrap();
        p1.send(1).await.unwrap();
        assert_eq!(p2.recv().await.unwrap(), 1);
        s.send(2).await.unwrap();
        assert_eq!(r.recv().await.unwrap(), 2);
        q.put(3).await.unwrap();
        assert_eq!(q2.get().await.unwrap(), 3);
        assert_eq!(q2.maxsize(), 4);

        // A plain descriptor: a std pipe's write end.
        let (carrier_tx, carrier_rx) = ipc::pipe_one_way::<Vec<OwnedFd>>().unwrap();
        let (mut reader, writer) = std::io::pipe().unwrap();
        carrier_tx.send(vec![OwnedFd::from(writer)]).await.unwrap();
        let mut fds = carrier_rx.recv().await.unwrap();
        let mut writer = std::io::PipeWriter::from(fds.pop().unwrap());
        writer.write_all(b"fd").unwrap();
        drop(writer);
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "fd");
    });
}

#[test]
fn a_value_with_too_many_descriptors_is_refused() {
    run(|| async {
        let (tx, rx) = ipc::pipe_one_way::<Vec<OwnedFd>>().unwrap();
        let fds: Vec<OwnedFd> = (0..253)
            .map(|_| std::fs::File::open("/dev/null").unwrap().into())
            .collect();
        let e = tx.send(fds).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("at most 252"), "{e}");
        let fds: Vec<OwnedFd> = (0..252)
            .map(|_| std::fs::File::open("/dev/null").unwrap().into())
            .collect();
        tx.send(fds).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().len(), 252);
    });
}

/// A receiving end that changes type on the way: sent as a receiver of
/// byte vectors, it arrives as a receiver of booleans (both travel as one
/// descriptor), to see what a message that does not decode does.
enum Retyped {
    Bytes(PipeReceiver<Vec<u8>>),
    Bools(PipeReceiver<bool>),
}

impl Wire for Retyped {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Retyped::Bytes(rx) => rx.encode(out),
            Retyped::Bools(rx) => rx.encode(out),
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Retyped, DecodeError> {
        PipeReceiver::decode(input).map(Retyped::Bools)
    }
}

#[test]
fn a_message_that_does_not_decode_is_invalid_data_and_consumed() {
    run(|| async {
        let (tx, rx) = ipc::pipe_one_way::<Vec<u8>>().unwrap();
        let (carrier_tx, carrier_rx) = ipc::pipe_one_way::<Retyped>().unwrap();
        carrier_tx.send(Retyped::Bytes(rx)).await.unwrap();
        let Retyped::Bools(rx) = carrier_rx.recv().await.unwrap() else {
            unreachable!()
        };
        tx.send(vec![]).await.unwrap(); // a bool, then trailing bytes
        tx.send(vec![1, 2, 3]).await.unwrap(); // 3 is no bool
        drop(tx);
        for _ in 0..2 {
            let e = rx.recv().await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            assert!(e.to_string().contains("did not decode"), "{e}");
        }
        // Each bad message was consumed: what is left is the end.
        assert_eq!(
            rx.recv().await.unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    });
}

#[test]
#[should_panic(expected = "inside a spindle runtime")]
fn blocking_recv_inside_a_runtime_panics() {
    let (_tx, rx) = ipc::pipe_one_way::<u8>().unwrap();
    Runtime::new().unwrap().block_on(async move {
        let _ = rx.blocking_recv();
    });
}

#[test]
fn async_recv_outside_a_runtime_is_an_error() {
    let (_tx, rx) = ipc::pipe_one_way::<u8>().unwrap();
    let e = support::foreign_block_on(rx.recv()).unwrap_err();
    assert!(e.to_string().contains("inside a spindle runtime"), "{e}");
}
