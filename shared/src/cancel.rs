//! The cancel request of a statement that ran out of time (PostgreSQL's CancelRequest, on a
//! connection of its own; PgBouncer forwards it to the server connection running the statement).
//!
//! tokio-postgres' `CancelToken::cancel_query` closes its connection as soon as the request is
//! written (a half-close, then the socket dropped). PgBouncer 1.18 crashes (`FATAL ...
//! disconnect_client(): bad client state`) when that connection is gone by the time it has
//! forwarded the request, which happened within seconds under a stall (`scripts/measure-stall.sh`).
//! So the request goes through [`cancel_query_raw`] on a socket whose shutdown, instead of closing,
//! waits for the server side to close, as the protocol has it.
//!
//! [`cancel_query_raw`]: tokio_postgres::CancelToken::cancel_query_raw

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use postgres_native_tls::MakeTlsConnector;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::CancelToken;

/// How long a cancel request may take, connection included: a 503 waits for it.
pub const CANCEL_LIMIT: Duration = Duration::from_secs(1);

/// Where cancel requests go: the pool's host and port (the first, as the pool connects).
#[derive(Clone)]
pub struct Canceller {
    /// Host and port; `None` for a Unix socket, which tokio-postgres' own `cancel_query` serves.
    address: Option<(String, u16)>,
    tls: MakeTlsConnector,
}

impl Canceller {
    /// For the server `config` connects to.
    pub fn new(config: &tokio_postgres::Config, tls: MakeTlsConnector) -> Self {
        let address = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => {
                let port = config.get_ports().first().copied().unwrap_or(5432);
                Some((host.clone(), port))
            }
            _ => None,
        };
        Self { address, tls }
    }

    /// Sends the cancel request of `token` and waits until the server (or PgBouncer) has closed
    /// the request's connection, within [`CANCEL_LIMIT`]; logs the outcome.
    pub async fn cancel(&self, token: CancelToken) {
        let sent = tokio::time::timeout(CANCEL_LIMIT, self.send(token)).await;
        match sent {
            Ok(Ok(())) => tracing::info!("statement over its time limit cancelled"),
            Ok(Err(error)) => tracing::warn!(error = %error, "cancelling a statement failed"),
            Err(_) => tracing::warn!("cancelling a statement took over {CANCEL_LIMIT:?}; gave up"),
        }
    }

    async fn send(&self, token: CancelToken) -> Result<(), anyhow::Error> {
        let Some((host, port)) = &self.address else {
            token.cancel_query(self.tls.clone()).await?;
            return Ok(());
        };
        let socket = TcpStream::connect((host.as_str(), *port)).await?;
        let mut tls = self.tls.clone();
        let connect = MakeTlsConnect::<WaitForClose>::make_tls_connect(&mut tls, host)?;
        token
            .cancel_query_raw(WaitForClose { inner: socket }, connect)
            .await?;
        Ok(())
    }
}

/// A socket whose shutdown waits for the peer to close the connection.
#[derive(Debug)]
pub struct WaitForClose {
    inner: TcpStream,
}

impl AsyncRead for WaitForClose {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WaitForClose {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // No half-close: PgBouncer takes the FIN for the client leaving. The server answers a
        // cancel request with nothing and closes: read until it has.
        let mut scratch = [0u8; 64];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf))?;
            if buf.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
        }
    }
}
