//! A TCP proxy in front of the test server that a test takes down and brings back: a database
//! outage (or Neon scaling to zero) without touching the shared server.

use std::sync::Arc;

use crate::db::server_url;

/// A TCP proxy in front of the test PostgreSQL server that a test can take down and bring back,
/// to play a database outage (or Neon scaling to zero) without touching the shared server.
pub struct TcpProxy {
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding 127.0.0.1:<port> to `upstream` (host:port).
    pub async fn start(upstream: String) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port for the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let task = {
            let up = up.clone();
            let cut = cut.clone();
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: the client sees the connection closed at once
                    }
                    let upstream = upstream.clone();
                    let mut cut_signal = cut.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await
                        else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cut_signal.changed() => {}
                        }
                    });
                }
            })
        };
        Self {
            port,
            up,
            cut,
            task,
        }
    }

    /// Refuses new connections and cuts every open one, like a database host going away.
    pub fn take_down(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Accepts connections again.
    pub fn bring_back(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// `url` with its host and port replaced by this proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let credentials = authority
            .rsplit_once('@')
            .map(|(c, _)| format!("{c}@"))
            .unwrap_or_default();
        format!("{scheme}://{credentials}127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.take_down();
        self.task.abort();
    }
}

/// host:port of the test server, for a proxy to forward to.
pub fn server_address() -> String {
    let url = server_url();
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}
