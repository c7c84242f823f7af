//! Every error type converts into `io::Error`, so `?` works in a function
//! that returns `io::Result` (the guide's `sem.acquire().await?` in an
//! `io::Result` main): the kind says what happened, the message is the
//! error's, and a value that could not be sent is kept inside.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use spindle_sync::channel::mpsc::{self, error as mpsc_error};
use spindle_sync::channel::oneshot::{self, error as oneshot_error};
use spindle_sync::channel::{GetError, PutError, Queue, QueueClosed};
use spindle_sync::sync::{BoundedSemaphore, Mutex, Semaphore};

/// Polls a future that is ready at once (every operation here fails
/// without waiting).
fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("expected the operation to finish at once"),
    }
}

fn kind_and_message(e: io::Error) -> (io::ErrorKind, String) {
    (e.kind(), e.to_string())
}

// The `?`s below are the point: each line compiles only with the From impl.

async fn acquire_in_io_fn(sem: &Semaphore) -> io::Result<()> {
    let _permit = sem.acquire().await?;
    Ok(())
}

#[test]
fn semaphore_errors() {
    let sem = Semaphore::new(0);
    let busy = (|| -> io::Result<()> {
        let _permit = sem.try_acquire()?;
        Ok(())
    })()
    .unwrap_err();
    assert_eq!(busy.kind(), io::ErrorKind::WouldBlock);

    sem.close();
    let closed = now(acquire_in_io_fn(&sem)).unwrap_err();
    assert_eq!(
        kind_and_message(closed),
        (io::ErrorKind::Other, "semaphore closed".to_string())
    );
    let closed = (|| -> io::Result<()> {
        let _permit = sem.try_acquire()?;
        Ok(())
    })()
    .unwrap_err();
    assert_eq!(closed.kind(), io::ErrorKind::Other);
    // The original error is inside.
    assert!(closed
        .get_ref()
        .unwrap()
        .is::<spindle_sync::sync::TryAcquireError>());
}

#[test]
fn bounded_semaphore_and_lock_errors() {
    let sem = BoundedSemaphore::new(1);
    let over = (|| -> io::Result<()> {
        sem.release()?;
        Ok(())
    })()
    .unwrap_err();
    assert_eq!(over.kind(), io::ErrorKind::InvalidInput);

    let m = Mutex::new(0);
    let _held = m.try_lock().unwrap();
    let busy = (|| -> io::Result<()> {
        let _again = m.try_lock()?;
        Ok(())
    })()
    .unwrap_err();
    assert_eq!(busy.kind(), io::ErrorKind::WouldBlock);
}

async fn send_in_io_fn(tx: &mpsc::Sender<String>, v: String) -> io::Result<()> {
    tx.send(v).await?;
    Ok(())
}

#[test]
fn mpsc_errors_keep_the_value() {
    let (tx, rx) = mpsc::channel::<String>(1);
    tx.try_send("first".into()).unwrap();
    let full = (|| -> io::Result<()> {
        tx.try_send("second".into())?;
        Ok(())
    })()
    .unwrap_err();
    assert_eq!(full.kind(), io::ErrorKind::WouldBlock);

    drop(rx);
    let closed = now(send_in_io_fn(&tx, "lost?".into())).unwrap_err();
    assert_eq!(
        kind_and_message(closed),
        (io::ErrorKind::BrokenPipe, "channel closed".to_string())
    );
    // Nothing lost: the value comes back out of the io::Error.
    let closed = now(send_in_io_fn(&tx, "kept".into())).unwrap_err();
    let inner = closed.into_inner().unwrap();
    let send_error = inner.downcast::<mpsc_error::SendError<String>>().unwrap();
    assert_eq!(send_error.into_inner(), "kept");

    let (tx, mut rx) = mpsc::channel::<u8>(1);
    let empty = (|| -> io::Result<u8> { Ok(rx.try_recv()?) })().unwrap_err();
    assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
    drop(tx);
    let gone = (|| -> io::Result<u8> { Ok(rx.try_recv()?) })().unwrap_err();
    assert_eq!(gone.kind(), io::ErrorKind::UnexpectedEof);
    let closed = io::Error::from(mpsc_error::TrySendError::Closed(Arc::new(5u8)));
    assert_eq!(closed.kind(), io::ErrorKind::BrokenPipe);
}

async fn recv_in_io_fn(rx: oneshot::Receiver<u8>) -> io::Result<u8> {
    Ok(rx.await?)
}

#[test]
fn oneshot_errors() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    let empty = (|| -> io::Result<u8> { Ok(rx.try_recv()?) })().unwrap_err();
    assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
    drop(tx);
    let closed = (|| -> io::Result<u8> { Ok(rx.try_recv()?) })().unwrap_err();
    assert_eq!(closed.kind(), io::ErrorKind::UnexpectedEof);

    let (tx, rx) = oneshot::channel::<u8>();
    drop(tx);
    let never = now(recv_in_io_fn(rx)).unwrap_err();
    assert_eq!(never.kind(), io::ErrorKind::UnexpectedEof);
    assert!(never.get_ref().unwrap().is::<oneshot_error::RecvError>());
}

async fn put_get_in_io_fn(q: &Queue<String>, v: String) -> io::Result<String> {
    q.put(v).await?;
    Ok(q.get().await?)
}

#[test]
fn queue_errors() {
    let q = Queue::<String>::new(1);
    assert_eq!(now(put_get_in_io_fn(&q, "a".into())).unwrap(), "a");
    q.put_nowait("b".into()).unwrap();
    let full = (|| -> io::Result<()> {
        q.put_nowait("c".into())?;
        Ok(())
    })()
    .unwrap_err();
    assert_eq!(full.kind(), io::ErrorKind::WouldBlock);
    assert_eq!(q.get_nowait().unwrap(), "b");
    let empty = (|| -> io::Result<String> { Ok(q.get_nowait()?) })().unwrap_err();
    assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
    let done_too_often = (|| -> io::Result<()> {
        q.try_task_done()?;
        q.try_task_done()?;
        q.try_task_done()?;
        Ok(())
    })()
    .unwrap_err();
    assert_eq!(done_too_often.kind(), io::ErrorKind::InvalidInput);

    q.close();
    let closed = now(put_get_in_io_fn(&q, "kept".into())).unwrap_err();
    assert_eq!(closed.kind(), io::ErrorKind::BrokenPipe);
    let inner = closed.into_inner().unwrap();
    let value = inner
        .downcast::<QueueClosed<String>>()
        .unwrap()
        .into_inner();
    assert_eq!(value, "kept");
    let put_closed = io::Error::from(PutError::Closed(1u8));
    assert_eq!(put_closed.kind(), io::ErrorKind::BrokenPipe);
    let get_closed = (|| -> io::Result<String> { Ok(q.get_nowait()?) })().unwrap_err();
    assert_eq!(get_closed.kind(), io::ErrorKind::BrokenPipe);
    assert!(get_closed.get_ref().unwrap().is::<GetError>());
}

#[test]
fn broadcast_and_watch_errors_keep_the_value() {
    use spindle_sync::channel::{broadcast, watch};

    let (tx, rx) = broadcast::channel::<String>(2);
    drop(rx);
    let e = (|| -> io::Result<usize> { Ok(tx.send("kept".into())?) })().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    let inner = e.into_inner().unwrap();
    let inner = inner
        .downcast::<broadcast::error::SendError<String>>()
        .unwrap();
    assert_eq!(inner.0, "kept");

    let (tx, mut rx) = broadcast::channel::<u8>(1);
    let empty = (|| -> io::Result<u8> { Ok(rx.try_recv()?) })().unwrap_err();
    assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
    drop(tx);
    async fn recv_in_io_fn(rx: &mut broadcast::Receiver<u8>) -> io::Result<u8> {
        Ok(rx.recv().await?)
    }
    let closed = now(recv_in_io_fn(&mut rx)).unwrap_err();
    assert_eq!(closed.kind(), io::ErrorKind::UnexpectedEof);

    let (tx, rx) = watch::channel(String::new());
    drop(rx);
    let e = (|| -> io::Result<()> { Ok(tx.send("kept".into())?) })().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    let inner = e.into_inner().unwrap();
    let inner = inner.downcast::<watch::error::SendError<String>>().unwrap();
    assert_eq!(inner.0, "kept");
    let mut rx = tx.subscribe();
    drop(tx);
    async fn changed_in_io_fn(rx: &mut watch::Receiver<String>) -> io::Result<()> {
        Ok(rx.changed().await?)
    }
    let closed = now(changed_in_io_fn(&mut rx)).unwrap_err();
    assert_eq!(closed.kind(), io::ErrorKind::UnexpectedEof);
}
