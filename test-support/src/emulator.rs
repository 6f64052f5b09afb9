//! `cargo lambda watch` serving every function of the workspace, as a developer runs it, for the
//! end-to-end tests; and the small network helpers its launch needs.

use std::time::Duration;

/// `cargo lambda watch` (from .venv, as scripts/test.sh installs it) serving every function of the
/// workspace on a free port of 127.0.0.1, the functions configured by `envs`; stopped (with the
/// function processes it started) when dropped. Its output goes to a log file named in panics.
pub struct Emulator {
    child: std::process::Child,
    pub port: u16,
    pub log: std::path::PathBuf,
}

impl Emulator {
    /// Starts the emulator and waits (up to 300 s: cargo lambda builds each function on its first
    /// invocation) until each function answers itself rather than the emulator for it: health on
    /// `/health`, auth and tasks with their 401 to a request without a token (or, misconfigured or
    /// on an unmigrated database, their problem).
    pub async fn start(envs: &[(&str, &str)]) -> Self {
        Self::start_at(free_port(), envs).await
    }

    /// [`Self::start`] on `port`: for a configuration that names the emulator's own URL.
    pub async fn start_at(port: u16, envs: &[(&str, &str)]) -> Self {
        use std::os::unix::process::CommandExt;
        let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let log = std::env::temp_dir().join(format!("cargo-lambda-watch-{port}.log"));
        let file = std::fs::File::create(&log).expect("the emulator's log file");
        let child = std::process::Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                // The functions apply CORS themselves (CORS_ORIGINS), as the HTTP API does in
                // AWS; the emulator's own policy would allow every origin.
                "--disable-cors",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args(["--invoke-port", &port.to_string()])
            .current_dir(workspace)
            .envs(envs.iter().copied())
            .stdout(file.try_clone().expect("the emulator's log file"))
            .stderr(file)
            .process_group(0)
            .spawn()
            .expect("`cargo lambda watch` must be installed: run the tests with scripts/test.sh");
        let emulator = Self { child, port, log };
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        for path in ["/health", "/users/me", "/api/nobody/tasks"] {
            loop {
                match plain_get(port, path).await {
                    Some((status, json)) if json || (status != 502 && status != 503) => break,
                    _ if std::time::Instant::now() > deadline => panic!(
                        "cargo lambda watch did not serve {path} within 300 s; see {}",
                        emulator.log.display()
                    ),
                    _ => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        }
        emulator
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // cargo lambda watch shuts down on Ctrl-C (SIGINT); SIGKILL the group if it lingers.
        let group = format!("-{}", self.child.id());
        let signal = |name: &str| {
            let _ = std::process::Command::new("kill")
                .args(["-s", name, "--", &group])
                .stderr(std::process::Stdio::null())
                .status();
        };
        signal("INT");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        signal("KILL");
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; good enough for a test's own servers).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free local port")
        .port()
}

/// The status of `GET path` on 127.0.0.1:`port`, and whether the answer is JSON (a function's own,
/// even a 503, rather than the emulator's gateway error); `None` when nothing answers.
async fn plain_get(port: u16, path: &str) -> Option<(u16, bool)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    let head = String::from_utf8_lossy(&answer);
    let head = head.split("\r\n\r\n").next()?.to_ascii_lowercase();
    let status = head.get(9..12)?.parse().ok()?;
    Some((status, head.contains("content-type: application/")))
}
