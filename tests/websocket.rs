//! WebSockets on spindle sockets with no glue but `Compat`: async-tungstenite
//! (no runtime features; its generic `accept_async` and `client_async` take
//! any futures-io stream) over spindle `TcpStream`s on 127.0.0.1.
//!
//! ```text
//! cargo test -p spindle-rt --features futures-io --test websocket
//! ```
//!
//! A server task accepts on a spindle `TcpListener` and echoes text and
//! binary messages; the client sends a text, a 256 KiB binary and a ping
//! (tungstenite answers pings by itself), then runs the close handshake,
//! which both ends must see. A second test has the client vanish in the
//! middle of a frame: the server task must end with an error, neither
//! hanging on the missing bytes nor panicking.
//!
//! Every test runs under a watchdog.

use async_tungstenite::tungstenite::error::ProtocolError;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::{accept_async, client_async, WebSocketStream};
use futures_util::StreamExt;
use spindle::compat::{Compat, CompatExt};
use spindle::io::AsyncWriteExt;
use spindle::net::{TcpListener, TcpStream};
use spindle::task::JoinHandle;
use spindle::Runtime;

mod support;
use support::bounded;

/// Runs the future `make` returns on a fresh spindle runtime, under the
/// watchdog.
fn run<F: std::future::Future<Output = ()> + 'static>(make: impl FnOnce() -> F + Send + 'static) {
    bounded(30, move || Runtime::new().unwrap().block_on(make()));
}

/// What the echo server saw on its one connection, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Text(String),
    Binary(usize),
    Ping(Vec<u8>),
    Close,
}

/// Spawns the echo server for one connection on `listener`: text and
/// binary messages go back as they came; pings are answered by tungstenite
/// itself (the pong goes out on the next read); a close is answered by
/// tungstenite too, after which the stream ends. The task's output is what
/// it saw, or the error that ended the connection.
fn spawn_echo_server(listener: TcpListener) -> JoinHandle<Result<Vec<Seen>, WsError>> {
    spindle::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut ws = accept_async(tcp.compat()).await?;
        let mut seen = Vec::new();
        while let Some(message) = ws.next().await {
            match message? {
                Message::Text(text) => {
                    seen.push(Seen::Text(text.as_str().to_owned()));
                    ws.send(Message::Text(text)).await?;
                }
                Message::Binary(bytes) => {
                    seen.push(Seen::Binary(bytes.len()));
                    ws.send(Message::Binary(bytes)).await?;
                }
                Message::Ping(payload) => seen.push(Seen::Ping(payload.to_vec())),
                Message::Close(_) => seen.push(Seen::Close),
                Message::Pong(_) | Message::Frame(_) => {}
            }
        }
        Ok(seen)
    })
}

/// A listener on a fresh loopback port, its `ws://` URL, and the echo
/// server running on it.
async fn echo_server() -> (String, JoinHandle<Result<Vec<Seen>, WsError>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/echo", listener.local_addr().unwrap());
    (url, spawn_echo_server(listener))
}

/// Connects a WebSocket client to `url` over a spindle `TcpStream`.
async fn connect(url: &str) -> WebSocketStream<Compat<TcpStream>> {
    let addr = url.trim_start_matches("ws://").trim_end_matches("/echo");
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (ws, response) = client_async(url, tcp.compat()).await.unwrap();
    assert_eq!(response.status(), 101, "switching protocols");
    ws
}

/// 256 KiB of bytes that are not all alike.
fn big_binary() -> Vec<u8> {
    (0..256 * 1024u32).map(|i| (i * 7 % 253) as u8).collect()
}

#[test]
fn echoes_text_binary_and_ping_then_closes_on_both_ends() {
    run(|| async {
        let (url, server) = echo_server().await;
        let mut ws = connect(&url).await;

        ws.send(Message::text("hello, spindle")).await.unwrap();
        match ws.next().await {
            Some(Ok(Message::Text(text))) => assert_eq!(text.as_str(), "hello, spindle"),
            other => panic!("expected the text back, got {other:?}"),
        }

        let sent = big_binary();
        ws.send(Message::binary(sent.clone())).await.unwrap();
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                assert_eq!(bytes.len(), sent.len());
                assert!(bytes[..] == sent[..], "the binary echo differs");
            }
            other => panic!("expected the binary back, got {other:?}"),
        }

        ws.send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .unwrap();
        match ws.next().await {
            Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"are you there"),
            other => panic!("expected a pong, got {other:?}"),
        }

        // The close handshake: our Close, the server's Close in reply (which
        // the stream hands us), then the end of the stream.
        ws.close(None).await.unwrap();
        match ws.next().await {
            Some(Ok(Message::Close(_))) => {}
            other => panic!("expected the server's close, got {other:?}"),
        }
        assert!(ws.next().await.is_none(), "the stream ends after the close");

        let seen = server
            .await
            .unwrap()
            .expect("the server's connection ends cleanly");
        assert_eq!(
            seen,
            vec![
                Seen::Text("hello, spindle".into()),
                Seen::Binary(sent.len()),
                Seen::Ping(b"are you there".to_vec()),
                Seen::Close,
            ]
        );
    });
}

#[test]
fn client_vanishing_mid_frame_ends_the_server_task_with_an_error() {
    run(|| async {
        let (url, server) = echo_server().await;
        let mut ws = connect(&url).await;

        // Half a frame, written past tungstenite onto the socket: a masked
        // binary frame announcing 4096 bytes of payload, then only 100 of
        // them. (Client frames must be masked; an all-zero mask keeps the
        // payload as written.)
        let mut partial = vec![0x82, 0x80 | 126, 0x10, 0x00, 0, 0, 0, 0];
        partial.extend(std::iter::repeat_n(b'x', 100));
        let tcp = ws.get_mut().get_mut();
        tcp.write_all(&partial).await.unwrap();
        tcp.flush().await.unwrap();
        drop(ws); // closes the TCP connection mid-frame

        match server.await.unwrap() {
            Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => {}
            other => panic!("expected the server to see a reset mid-frame, got {other:?}"),
        }
    });
}
