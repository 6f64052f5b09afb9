//! A TCP proxy in front of the test server that a test takes down and brings back: a database
//! outage (or Neon scaling to zero) without touching the shared server. It can also break one
//! connection at the worst moment of one statement ([`Fault`]): the connections are plain TCP
//! (`sslmode=disable`), so it sees the statements' text go by.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::db::server_url;

/// Where a [`Fault`] breaks the connection that sends a message containing its trigger (a piece of
/// the statement's text, e.g. `"commit"` or `"insert into tasks"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The message is never sent: the connection is cut instead.
    BeforeSending(&'static str),
    /// The message is sent, then the connection is cut at once: the server is in the middle of it.
    WhileRunning(&'static str),
    /// The message is sent and the server's whole answer (up to ReadyForQuery, so after any
    /// commit) is thrown away, then the connection is cut: done, but the client never hears.
    AnswerLost(&'static str),
    /// The message is sent, then nothing more comes back and nothing is closed: a link that hangs.
    Blackhole(&'static str),
}

impl Fault {
    fn trigger(self) -> &'static [u8] {
        match self {
            Self::BeforeSending(t)
            | Self::WhileRunning(t)
            | Self::AnswerLost(t)
            | Self::Blackhole(t) => t.as_bytes(),
        }
    }
}

/// A TCP proxy in front of the test PostgreSQL server that a test can take down and bring back,
/// to play a database outage (or Neon scaling to zero) without touching the shared server.
pub struct TcpProxy {
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
    /// The armed fault, taken by the first connection that meets its trigger.
    fault: Arc<Mutex<Option<Fault>>>,
    /// How many faults fired.
    fired: Arc<AtomicUsize>,
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
        let fault = Arc::new(Mutex::new(None));
        let fired = Arc::new(AtomicUsize::new(0));
        let task = {
            let up = up.clone();
            let cut = cut.clone();
            let fault = fault.clone();
            let fired = fired.clone();
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: the client sees the connection closed at once
                    }
                    let upstream = upstream.clone();
                    let mut cut_signal = cut.subscribe();
                    let fault = fault.clone();
                    let fired = fired.clone();
                    tokio::spawn(async move {
                        let Ok(outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                            return;
                        };
                        tokio::select! {
                            _ = forward(inbound, outbound, fault, fired) => {}
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
            fault,
            fired,
            task,
        }
    }

    /// Arms `fault` for the next message that contains its trigger, on any connection; it fires
    /// once.
    pub fn arm(&self, fault: Fault) {
        *self.fault.lock().expect("fault lock") = Some(fault);
    }

    /// Disarms a fault that has not fired yet.
    pub fn disarm(&self) {
        self.fault.lock().expect("fault lock").take();
    }

    /// How many faults fired so far.
    pub fn fired(&self) -> usize {
        self.fired.load(std::sync::atomic::Ordering::SeqCst)
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

/// Copies bytes both ways until either side closes, breaking the connection as an armed [`Fault`]
/// says when the client sends its trigger. A trigger split across two reads is missed; the
/// statements the tests look for go in one write.
async fn forward(
    inbound: TcpStream,
    outbound: TcpStream,
    fault: Arc<Mutex<Option<Fault>>>,
    fired: Arc<AtomicUsize>,
) {
    let (mut client_read, mut client_write) = inbound.into_split();
    let (mut server_read, mut server_write) = outbound.into_split();
    // What the server→client pump does with what comes back after a fault fired.
    let (after_tx, mut after_rx) = tokio::sync::watch::channel(None::<Fault>);
    let upstream = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            let chunk = &buffer[..read];
            let fires = {
                let mut armed = fault.lock().expect("fault lock");
                match *armed {
                    Some(f) if contains(chunk, f.trigger()) => armed.take(),
                    _ => None,
                }
            };
            if let Some(f) = fires {
                fired.fetch_add(1, Ordering::SeqCst);
                match f {
                    Fault::BeforeSending(_) => return,
                    Fault::WhileRunning(_) => {
                        let _ = server_write.write_all(chunk).await;
                        return;
                    }
                    Fault::AnswerLost(_) | Fault::Blackhole(_) => {
                        // Told before the message goes, so no byte of the answer slips through.
                        let _ = after_tx.send(Some(f));
                        if server_write.write_all(chunk).await.is_err() {
                            return;
                        }
                        // Nothing more goes up; the connection lives until the client leaves
                        // (or, for a lost answer, until the answer's end).
                        while let Ok(read) = client_read.read(&mut buffer).await {
                            if read == 0 {
                                return;
                            }
                        }
                        return;
                    }
                }
            }
            if server_write.write_all(chunk).await.is_err() {
                return;
            }
        }
    };
    let downstream = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            let chunk = &buffer[..read];
            let after = *after_rx.borrow_and_update();
            match after {
                // The answer's end: ReadyForQuery ('Z', length 5), sent after the commit.
                Some(Fault::AnswerLost(_)) if contains(chunk, b"Z\0\0\0\x05") => return,
                Some(Fault::AnswerLost(_) | Fault::Blackhole(_)) => continue,
                _ => {}
            }
            if client_write.write_all(chunk).await.is_err() {
                return;
            }
        }
    };
    // Either pump ending closes both connections (their halves drop here).
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
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
