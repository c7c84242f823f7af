//! [`Connector`]: opens the TCP connections of hyper-util's pooled client.
//!
//! hyper-util's `client::legacy::Client` keeps a pool of connections and
//! asks a connector, a `tower_service::Service<Uri>`, for a new one when
//! the pool has none to spare. This one resolves the URI's host (through
//! spindle's `ToSocketAddrs`, which tries each address in turn) and
//! connects a spindle [`TcpStream`], which hyper then reads and writes
//! directly. Like hyper-util's `HttpConnector` it speaks plain `http`
//! only (TLS is a layer around a connector), and has `set_nodelay` and
//! `set_connect_timeout`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};

use crate::net::TcpStream;

/// The connector for hyper-util's pooled client on spindle:
/// `Client::builder(Executor::new()).build(Connector::new())`.
///
/// Connects plain TCP for `http://` URIs (port 80 unless the URI names
/// one). Cloning it copies its settings.
#[derive(Debug, Clone)]
pub struct Connector {
    nodelay: bool,
    connect_timeout: Option<Duration>,
}

impl Connector {
    /// A connector with `TCP_NODELAY` off and no connect timeout, like
    /// hyper-util's `HttpConnector::new()`.
    pub fn new() -> Connector {
        Connector {
            nodelay: false,
            connect_timeout: None,
        }
    }

    /// Sets `TCP_NODELAY` on every connection it opens (send small
    /// writes at once instead of batching them: usually what HTTP wants).
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.nodelay = nodelay;
    }

    /// Bounds each connection attempt, name resolution included; `None`
    /// (the default) waits as long as the OS does. A connection that
    /// takes longer fails with `TimedOut`.
    pub fn set_connect_timeout(&mut self, timeout: Option<Duration>) {
        self.connect_timeout = timeout;
    }
}

impl Default for Connector {
    fn default() -> Connector {
        Connector::new()
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TcpStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Every call opens its own connection: always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let Connector {
            nodelay,
            connect_timeout,
        } = self.clone();
        Box::pin(async move {
            let (host, port) = host_and_port(&uri)?;
            let connect = TcpStream::connect((host.as_str(), port));
            let stream = match connect_timeout {
                None => connect.await?,
                Some(limit) => crate::time::timeout(limit, connect).await.map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("connecting to {uri} took more than {limit:?}"),
                    )
                })??,
            };
            if nodelay {
                stream.set_nodelay(true)?;
            }
            Ok(stream)
        })
    }
}

/// The host to resolve and the port to connect to, for an `http` URI.
fn host_and_port(uri: &Uri) -> io::Result<(String, u16)> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{uri}: {why}"));
    match uri.scheme_str() {
        Some("http") => {}
        Some(_) => return Err(invalid("only http:// URIs (wrap the connector for TLS)")),
        None => return Err(invalid("no scheme")),
    }
    let host = uri.host().ok_or_else(|| invalid("no host"))?;
    // An IPv6 literal comes bracketed ("[::1]"); the resolver wants it bare.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_owned(), uri.port_u16().unwrap_or(80)))
}

/// What hyper-util's pool wants to know about a connection: nothing
/// special (no proxy, no negotiated protocol).
impl Connection for TcpStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

#[cfg(test)]
mod tests {
    use super::host_and_port;
    use hyper::Uri;

    #[test]
    fn host_and_port_of_http_uris() {
        let of = |s: &str| host_and_port(&s.parse::<Uri>().unwrap());
        assert_eq!(
            of("http://127.0.0.1:8080/x").unwrap(),
            ("127.0.0.1".into(), 8080)
        );
        assert_eq!(of("http://localhost/").unwrap(), ("localhost".into(), 80));
        assert_eq!(of("http://[::1]:81/").unwrap(), ("::1".into(), 81));
        let https = of("https://127.0.0.1/").unwrap_err();
        assert_eq!(https.kind(), std::io::ErrorKind::InvalidInput);
        assert!(of("/relative").is_err());
    }
}
