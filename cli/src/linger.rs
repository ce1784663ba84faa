//! Lingering close for `serve`: a refusal the client can read.
//!
//! The handler answers `401`, `403` and `413` without reading the body. A client that writes its
//! whole body before reading the answer (Python's urllib, many webhook test tools) would then meet
//! a connection closed with its data unread: the kernel resets it, the client's write fails with a
//! broken pipe, and the answer is never read. So, as nginx does (`lingering_close`), a connection
//! hyper is done with is not closed at once: its write side is shut (the answer is complete), and
//! what the client still sends is read and thrown away until it closes, or [`MAX_BYTES`] were
//! read, or [`MAX_TIME`] passed; then the socket is closed.
//!
//! Only after hyper has finished with a connection, so a keep-alive client is not slowed: it
//! closes, the read sees the end at once. In Lambda, API Gateway reads the whole request before
//! the function runs: nothing to do there.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// At most this much of a refused request is read and thrown away: a body well past the 6 MB
/// limit (API Gateway's own cap is 10 MB).
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;
/// And for at most this long: enough for 16 MB at a few MB/s; a local port, so holding a socket
/// this long costs nothing.
pub const MAX_TIME: Duration = Duration::from_secs(10);

/// How long and how much a closing connection is drained.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub bytes: u64,
    pub time: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            bytes: MAX_BYTES,
            time: MAX_TIME,
        }
    }
}

/// A TCP listener whose connections linger when closed.
pub struct LingeringListener {
    inner: TcpListener,
    bounds: Bounds,
}

impl LingeringListener {
    pub fn new(inner: TcpListener) -> Self {
        Self::with_bounds(inner, Bounds::default())
    }

    pub fn with_bounds(inner: TcpListener, bounds: Bounds) -> Self {
        Self { inner, bounds }
    }
}

impl Listener for LingeringListener {
    type Io = Lingering;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Lingering, SocketAddr) {
        // axum's accept: it retries (and logs) failed accepts.
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        let stream = Lingering {
            stream: Some(stream),
            bounds: self.bounds,
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The client's address, for `ConnectInfo` (axum provides it for its own listeners only).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, LingeringListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, LingeringListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// A connection that, when dropped, drains in a task of its own before it closes.
pub struct Lingering {
    /// Always `Some` until dropped.
    stream: Option<TcpStream>,
    bounds: Bounds,
}

impl Lingering {
    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        self.stream
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        // Dropped outside a runtime (never, in serve), the socket just closes.
        if let (Some(stream), Ok(runtime)) =
            (self.stream.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(linger(stream, self.bounds));
        }
    }
}

/// Shuts the write side, then reads and discards within the bounds; the socket closes on return.
async fn linger(mut stream: TcpStream, bounds: Bounds) {
    // Errors only mean the peer is gone already.
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = bounds.bytes;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n as u64),
            }
        }
    };
    let _ = tokio::time::timeout(bounds.time, drain).await;
}

impl AsyncRead for Lingering {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_read(cx, buf),
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_write(cx, buf),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_write_vectored(cx, bufs),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_flush(cx),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => stream.poll_shutdown(cx),
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A connected pair: the server's side, wrapped, and the client's.
    async fn pair(bounds: Bounds) -> (Lingering, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut listener = LingeringListener::with_bounds(listener, bounds);
        let addr = listener.local_addr().expect("addr");
        let (client, (server, _)) =
            tokio::join!(TcpStream::connect(addr), Listener::accept(&mut listener));
        (server, client.expect("connect"))
    }

    /// Writes until the connection breaks; how much went out.
    async fn write_until_refused(client: &mut TcpStream, limit: u64) -> u64 {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < limit {
            match client.write(&chunk).await {
                Ok(n) => sent += n as u64,
                Err(_) => break,
            }
        }
        sent
    }

    #[tokio::test]
    async fn the_answer_is_read_after_the_client_wrote_everything() {
        let (mut server, mut client) = pair(Bounds::default()).await;
        server.write_all(b"413 answer").await.expect("answer");
        drop(server);
        // 8 MB: more than the kernel's buffers hold, so unread it would have broken the pipe.
        let body = vec![b'x'; 8 * 1024 * 1024];
        client
            .write_all(&body)
            .await
            .expect("the whole body goes out");
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.expect("read");
        assert_eq!(answer, b"413 answer");
    }

    #[tokio::test]
    async fn draining_stops_after_the_byte_bound() {
        let bounds = Bounds {
            bytes: 1024 * 1024,
            time: Duration::from_secs(60),
        };
        let (server, mut client) = pair(bounds).await;
        drop(server);
        // Past 1 MB read (and what the kernel buffers on both sides) the connection is closed.
        let limit = 512 * 1024 * 1024;
        assert!(
            write_until_refused(&mut client, limit).await < limit,
            "never cut off"
        );
    }

    #[tokio::test]
    async fn draining_stops_after_the_time_bound() {
        let bounds = Bounds {
            bytes: u64::MAX,
            time: Duration::from_millis(300),
        };
        let (server, mut client) = pair(bounds).await;
        let started = Instant::now();
        drop(server);
        // The write side is shut at once: the client reads the end of the answer.
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
        assert!(read.is_ok_and(|r| r.is_ok()) && rest.is_empty());
        // A byte now and then keeps the drain reading until the bound closes the socket; the
        // write after that fails.
        let cut_off = tokio::time::timeout(Duration::from_secs(10), async {
            while client.write_all(b"x").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(cut_off.is_ok(), "never closed");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}
