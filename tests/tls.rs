//! TLS on spindle sockets with no glue but `Compat`: a rustls server and
//! client, each over a spindle `TcpStream` on 127.0.0.1, with a self-signed
//! certificate that rcgen makes afresh for every test.
//!
//! ```text
//! cargo test -p spindle-rt --features futures-io,tokio-io --test tls
//! ```
//!
//! Two wrappers take rustls to a socket: tokio-rustls (over tokio's IO
//! traits) and futures-rustls (over futures-io's). Both run here:
//!
//! ```text
//! spindle TcpStream --.compat()--> tokio/futures-io stream --TlsAcceptor/TlsConnector-->
//!     TLS stream (tokio/futures-io traits) --TokioCompat::new / Compat::new--> spindle traits
//! ```
//!
//! so the echo itself is written once, with spindle's `AsyncReadExt` and
//! `AsyncWriteExt`, and every byte crosses the adapters twice on each side.
//!
//! What is checked:
//! * 1 MiB of patterned bytes goes client -> server -> client byte-identical;
//!   both ends shut down with a TLS `close_notify` (a read that returns 0 on
//!   a rustls stream means the peer sent one: a bare TCP close is an
//!   `UnexpectedEof` error, which `tls_eof_without_close_notify_is_an_error`
//!   shows, so the clean end is really the TLS one);
//! * a client that asks for the wrong server name, or does not trust the
//!   server's certificate, gets a clear handshake error naming the reason,
//!   and the server's handshake fails too (the client's alert), with no hang.
//!
//! The crypto provider is rustls's `ring` one (no cmake or aws-lc needed).
//! Every test runs under a watchdog.

use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore, ServerConfig};
use spindle::compat::{Compat, CompatExt, TokioCompat};
use spindle::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use spindle::net::{TcpListener, TcpStream};
use spindle::Runtime;

mod support;
use support::bounded;

/// Runs the future `make` returns on a fresh spindle runtime, under the
/// watchdog.
fn run<F: std::future::Future<Output = ()> + 'static>(make: impl FnOnce() -> F + Send + 'static) {
    bounded(60, move || Runtime::new().unwrap().block_on(make()));
}

/// The name the test server's certificate is issued for.
const SERVER_NAME: &str = "spindle.test";

/// How many bytes the client sends and expects back.
const ECHO_LEN: usize = 1 << 20;

/// A self-signed certificate for `name`, and its private key.
fn self_signed(name: &str) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
    (certified.cert.der().clone(), key.into())
}

/// Another self-signed certificate for `name`, from an issuer with a
/// distinguished name of its own. (rcgen gives every certificate the same
/// default issuer name, so a second `self_signed` would look to the
/// verifier like the same issuer with a bad signature, not an unknown one.)
fn from_a_stranger(name: &str) -> CertificateDer<'static> {
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "a stranger the client trusts");
    params.self_signed(&key_pair).unwrap().der().clone()
}

/// rustls's `ring` crypto provider, named explicitly so nothing depends on
/// a process-wide default.
///
/// rustls 0.23.48 marks this provider deprecated because it has no
/// post-quantum key exchange; that does not matter for a loopback test, and
/// `ring` needs no cmake or C toolchain setup the way aws-lc does.
#[allow(deprecated)]
fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration presenting `cert`.
fn server_config(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> Arc<ServerConfig> {
    let config = ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    Arc::new(config)
}

/// A client configuration trusting `root` alone.
fn client_config(root: CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(root).unwrap();
    let config = ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// 1 MiB of bytes that are not all alike (a shifted or dropped chunk
/// would not compare equal).
fn pattern() -> Vec<u8> {
    (0..ECHO_LEN as u32).map(|i| (i * 31 % 251) as u8).collect()
}

/// A listener on a fresh loopback port, and a connected client socket.
async fn connected_pair() -> (TcpListener, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    (listener, client)
}

/// The server's half of the echo, on any stream with spindle's traits:
/// sends back everything it reads until the peer's `close_notify` (a read
/// of 0), then sends its own. Returns how many bytes it echoed.
async fn echo_until_close<S: AsyncRead + AsyncWrite + Unpin>(mut tls: S) -> io::Result<usize> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut echoed = 0;
    loop {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n]).await?;
        echoed += n;
    }
    tls.shutdown().await?;
    Ok(echoed)
}

/// The client's half: writes the 1 MiB pattern and, at the same time (the
/// echo would fill both sockets' buffers otherwise), reads the echo until
/// the server's `close_notify`, then checks it is byte-identical.
async fn send_and_check<S: AsyncRead + AsyncWrite + Unpin>(tls: S) {
    let (mut reader, mut writer) = spindle::io::split(tls);
    let sent = pattern();
    let write = async {
        writer.write_all(&sent).await?;
        // Sends close_notify, then shuts the TCP write side.
        writer.shutdown().await
    };
    let read = async {
        let mut echoed = Vec::with_capacity(ECHO_LEN);
        reader.read_to_end(&mut echoed).await.map(|_| echoed)
    };
    let (written, echoed) = spindle::join!(write, read);
    written.expect("client: write and close_notify");
    let echoed = echoed.expect("client: read until the server's close_notify");
    assert_eq!(echoed.len(), sent.len(), "echo length");
    assert!(echoed == sent, "the echo differs from what was sent");
}

/// The `rustls::Error` inside an IO error from tokio-rustls or futures-rustls.
fn rustls_error(err: &io::Error) -> &rustls::Error {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("not a rustls error: {err:?}"))
}

#[test]
fn tokio_rustls_echoes_one_mebibyte_with_close_notify() {
    run(|| async {
        let (cert, key) = self_signed(SERVER_NAME);
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(cert.clone(), key));
        let connector = tokio_rustls::TlsConnector::from(client_config(cert));
        let (listener, client) = connected_pair().await;

        let server = spindle::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let tls = acceptor.accept(tcp.compat()).await?;
            echo_until_close(TokioCompat::new(tls)).await
        });

        let name = ServerName::try_from(SERVER_NAME).unwrap();
        let tls = connector.connect(name, client.compat()).await.unwrap();
        let (_, session) = tls.get_ref();
        assert!(session.protocol_version().is_some(), "handshake finished");
        send_and_check(TokioCompat::new(tls)).await;

        let echoed = server.await.unwrap().expect("server side");
        assert_eq!(echoed, ECHO_LEN);
    });
}

#[test]
fn futures_rustls_echoes_one_mebibyte_with_close_notify() {
    run(|| async {
        let (cert, key) = self_signed(SERVER_NAME);
        let acceptor = futures_rustls::TlsAcceptor::from(server_config(cert.clone(), key));
        let connector = futures_rustls::TlsConnector::from(client_config(cert));
        let (listener, client) = connected_pair().await;

        let server = spindle::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let tls = acceptor.accept(tcp.compat()).await?;
            echo_until_close(Compat::new(tls)).await
        });

        let name = ServerName::try_from(SERVER_NAME).unwrap();
        let tls = connector.connect(name, client.compat()).await.unwrap();
        send_and_check(Compat::new(tls)).await;

        let echoed = server.await.unwrap().expect("server side");
        assert_eq!(echoed, ECHO_LEN);
    });
}

/// The negative control for the clean-close checks above: when the server
/// drops its TCP connection after the handshake without a `close_notify`,
/// the client's read is an `UnexpectedEof` error, not a quiet 0. So the
/// `read_to_end` that succeeds in the echo tests did see a real
/// `close_notify`.
#[test]
fn tls_eof_without_close_notify_is_an_error() {
    run(|| async {
        let (cert, key) = self_signed(SERVER_NAME);
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(cert.clone(), key));
        let connector = tokio_rustls::TlsConnector::from(client_config(cert));
        let (listener, client) = connected_pair().await;

        let server = spindle::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = TokioCompat::new(acceptor.accept(tcp.compat()).await.unwrap());
            tls.write_all(b"partial").await.unwrap();
            tls.flush().await.unwrap();
            // Dropped here: the socket closes with no close_notify.
        });

        let name = ServerName::try_from(SERVER_NAME).unwrap();
        let mut tls = TokioCompat::new(connector.connect(name, client.compat()).await.unwrap());
        server.await.unwrap();
        let mut got = Vec::new();
        let err = tls.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err:?}");
        assert_eq!(got, b"partial");
    });
}

/// Runs one handshake in which the client trusts `trusted` (`None`: the
/// server's own certificate) and asks for `asked_name`, while the server presents a certificate for
/// [`SERVER_NAME`]. Returns the client's and the server's errors.
fn failed_handshake(
    trusted: Option<CertificateDer<'static>>,
    asked_name: &'static str,
) -> (io::Error, io::Error) {
    let (cert, key) = self_signed(SERVER_NAME);
    bounded(60, move || {
        Runtime::new().unwrap().block_on(async move {
            let acceptor = tokio_rustls::TlsAcceptor::from(server_config(cert.clone(), key));
            let trusted = trusted.unwrap_or(cert);
            let connector = tokio_rustls::TlsConnector::from(client_config(trusted));
            let (listener, client) = connected_pair().await;

            let server = spindle::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                acceptor.accept(tcp.compat()).await.map(drop)
            });

            let name = ServerName::try_from(asked_name).unwrap();
            let client_err = connector
                .connect(name, client.compat())
                .await
                .map(drop)
                .expect_err("the client's handshake must fail");
            let server_err = server
                .await
                .unwrap()
                .expect_err("the server's handshake must fail");
            (client_err, server_err)
        })
    })
}

#[test]
fn wrong_server_name_fails_the_handshake_on_both_sides() {
    let (client_err, server_err) = failed_handshake(None, "other.test");

    assert_eq!(
        client_err.kind(),
        io::ErrorKind::InvalidData,
        "{client_err:?}"
    );
    match rustls_error(&client_err) {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => {}
        other => panic!("client: expected a name mismatch, got {other:?}"),
    }
    // The client tells the server why with a fatal alert.
    assert_eq!(
        rustls_error(&server_err),
        &rustls::Error::AlertReceived(rustls::AlertDescription::BadCertificate),
        "{server_err:?}"
    );
}

#[test]
fn untrusted_certificate_fails_the_handshake_on_both_sides() {
    // The client trusts a different self-signed certificate for the same name.
    let (client_err, server_err) =
        failed_handshake(Some(from_a_stranger(SERVER_NAME)), SERVER_NAME);

    assert_eq!(
        client_err.kind(),
        io::ErrorKind::InvalidData,
        "{client_err:?}"
    );
    assert_eq!(
        rustls_error(&client_err),
        &rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        "{client_err:?}"
    );
    assert_eq!(
        rustls_error(&server_err),
        &rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA),
        "{server_err:?}"
    );
}
