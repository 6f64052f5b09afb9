//! The round-trip phase of `run`: every operation called through a proxy that decodes the
//! PostgreSQL protocol, counting round trips and capturing the statements each one sends.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use serde_json::json;
use shared::secrecy::ExposeSecret;
use test_support::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::bench::{Account, Bench};
use crate::ops::Op;
use crate::output::Output;
use crate::seed::Configs;
use crate::wire::{decode_frontend, statements, Message, Statement, Wire};

/// Calls per operation through the counting proxy.
const COUNTED_CALLS: u64 = 3;

/// Each operation's statements, as its first counted call sent them.
pub type Captured = HashMap<&'static str, Vec<Statement>>;

/// Calls each operation through the counting proxy and writes its round trips and statements
/// to `out`; the statements, and the bench on the proxy (its pools stay open until `run` ends).
/// That bench takes 100 of `bench`'s tasks to delete, and `bench` is left with none.
pub async fn phase(
    out: &mut Output,
    database: &TestDb,
    configs: &Configs,
    bench: &Bench,
) -> Result<(Captured, Arc<Bench>), String> {
    let wire = Arc::new(Wire::default());
    let upstream = test_support::server_address();
    let port = start_counting_proxy(upstream, wire.clone()).await;
    let proxied_url = {
        let url = database.config().url.expose_secret().to_owned();
        let (scheme, rest) = url.split_once("://").ok_or("a URL")?;
        let (authority, path) = rest.split_once('/').ok_or("a URL with a database")?;
        let credentials = authority
            .rsplit_once('@')
            .map(|(c, _)| format!("{c}@"))
            .unwrap_or_default();
        format!("{scheme}://{credentials}127.0.0.1:{port}/{path}")
    };
    let counted = Arc::new(Bench {
        routers: configs.routers(proxied_url).await,
        reader: Account::new(bench.reader.id.clone(), bench.reader.token.clone()),
        reader_tasks: bench.reader_tasks.clone(),
        writer: Account::new(bench.writer.id.clone(), bench.writer.token.clone()),
        deletable: Mutex::new(Vec::new()),
        login_email: Mutex::new(bench.login_email.lock().expect("lock").clone()),
        sequence: AtomicU64::new(1 << 40),
        tag: format!("{}c", bench.tag),
        issuer: bench.issuer.clone(),
    });
    counted
        .deletable
        .lock()
        .expect("lock")
        .extend(bench.deletable.lock().expect("lock").drain(..).take(100));
    let mut captured: Captured = HashMap::new();
    for op in Op::ALL {
        // One call first: connections are opened (no statements are sent for that).
        counted.call(op).await?;
        let mut first = Vec::new();
        let (mut round_trips, mut parses) = (0usize, 0usize);
        for i in 0..COUNTED_CALLS {
            wire.messages.lock().expect("lock").clear();
            counted.call(op).await?;
            let messages = std::mem::take(&mut *wire.messages.lock().expect("lock"));
            round_trips += messages
                .iter()
                .filter(|m| matches!(m, Message::Sync | Message::Query(_)))
                .count();
            parses += messages
                .iter()
                .filter(|m| matches!(m, Message::Parse { .. } | Message::Query(_)))
                .count();
            if i == 0 {
                first = statements(&messages);
            }
        }
        out.line(json!({
            "kind": "roundtrips", "op": op.name(),
            "round_trips": round_trips as f64 / COUNTED_CALLS as f64,
            "statements": parses as f64 / COUNTED_CALLS as f64,
            "sql": first.iter().map(|s| s.sql.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>(),
        }));
        captured.insert(op.name(), first);
    }
    Ok((captured, counted))
}

/// A TCP proxy on a free local port to `upstream` (the PostgreSQL server) that decodes what
/// the client sends into `wire`; its port.
async fn start_counting_proxy(upstream: String, wire: Arc<Wire>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port for the counting proxy");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let wire = wire.clone();
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = inbound.into_split();
                let (mut server_read, mut server_write) = outbound.into_split();
                let to_client = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let mut buffer: Vec<u8> = Vec::new();
                let mut chunk = vec![0u8; 64 * 1024];
                let mut startup = true;
                while let Ok(read) = client_read.read(&mut chunk).await {
                    if read == 0 {
                        break;
                    }
                    buffer.extend_from_slice(&chunk[..read]);
                    let consumed = decode_frontend(&buffer, &mut startup, &wire);
                    buffer.drain(..consumed);
                    if server_write.write_all(&chunk[..read]).await.is_err() {
                        break;
                    }
                }
                to_client.abort();
            });
        }
    });
    port
}
