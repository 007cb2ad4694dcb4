//! Running the real `portico-dp` / `portico-cp` binaries.
//!
//! Binaries are looked up next to the test executable (`target/<profile>/`), where cargo
//! puts them when a package with integration tests (`data-plane`, `control-plane`) is
//! built by `cargo test`. Processes get ephemeral ports, are polled for readiness with
//! deadlines, and are killed when dropped.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/<name>`, found from the running test executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found; build it first (cargo build -p data-plane -p control-plane, or cargo test --workspace)",
        path.display()
    );
    path
}

/// The file name of a binary, to name its process in messages.
pub fn binary_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A loopback port that was free a moment ago, for a process the test starts (which binds
/// it itself, so the port is released in between).
///
/// Ports come from below the kernel's ephemeral range (`ip_local_port_range`, 32768-60999
/// by default), which outgoing connections and `:0` listeners draw from: a port picked from
/// there could be taken by one of the many connections tests open before the process binds
/// it. Each port is handed out once per test binary; the binaries running at the same time
/// (cargo runs them one after another) start at different random points.
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    static START: Mutex<()> = Mutex::new(());
    {
        let _guard = START.lock().unwrap_or_else(|e| e.into_inner());
        if NEXT.load(Ordering::Relaxed) == u32::MAX {
            let seed = std::process::id()
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
            NEXT.store(seed % COUNT, Ordering::Relaxed);
        }
    }
    for _ in 0..COUNT {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!(
        "no free loopback port between {FIRST} and {}",
        FIRST + COUNT
    )
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A child process killed on drop.
pub struct Process {
    child: Option<Child>,
    pub name: String,
}

impl Process {
    pub fn spawn(command: Command, name: &str) -> Process {
        Process::spawn_logged(command, name, None)
    }

    /// Like [`Process::spawn`], with stderr written to `log` (unless `PORTICO_TEST_LOGS` is
    /// set, which shows all output).
    pub fn spawn_logged(
        mut command: Command,
        name: &str,
        log: Option<&std::path::Path>,
    ) -> Process {
        command.stdin(Stdio::null());
        if std::env::var_os("PORTICO_TEST_LOGS").is_none() {
            command.stdout(Stdio::null());
            // Appended to, so a process restarted in the same prefix keeps the old log.
            let open = |p: &std::path::Path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .ok()
            };
            match log.and_then(open) {
                Some(file) => command.stderr(file),
                None => command.stderr(Stdio::null()),
            };
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process {
            child: Some(child),
            name: name.to_string(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends a signal by name (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status();
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Waits for the process to exit, up to `deadline` (blocking the thread).
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        let child = self.child.as_mut()?;
        while start.elapsed() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits for the process to exit, up to `deadline`, without blocking the async runtime.
    pub async fn wait_exit_async(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < deadline {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `check` until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A `portico-dp serve` process on ephemeral ports.
pub struct DataPlane {
    pub process: Process,
    pub proxy: SocketAddr,
    pub proxy_tls: SocketAddr,
    pub status: SocketAddr,
    pub prefix: tempfile::TempDir,
}

impl DataPlane {
    /// Starts `portico-dp serve` with `extra` arguments and waits until its status API
    /// answers (not necessarily ready).
    pub async fn start(extra: &[&str]) -> DataPlane {
        DataPlane::start_binary(&binary("portico-dp"), extra).await
    }

    /// [`DataPlane::start`] with another build of the data plane (one with custom plugins,
    /// e.g. `portico-dp-example`).
    pub async fn start_binary(binary: &std::path::Path, extra: &[&str]) -> DataPlane {
        let name = binary_name(binary);
        let prefix = tempfile::tempdir().expect("prefix dir");
        // Listeners named in `extra` are used as given; the others get free ports.
        let given = |flag: &str| -> Option<SocketAddr> {
            let i = extra.iter().position(|f| *f == flag)?;
            extra.get(i + 1)?.parse().ok()
        };
        let proxy = given("--proxy-listen").unwrap_or_else(|| loopback(free_port()));
        let proxy_tls = given("--proxy-listen-tls").unwrap_or_else(|| loopback(free_port()));
        let status = given("--status-listen").unwrap_or_else(|| loopback(free_port()));
        let mut command = Command::new(binary);
        command.arg("serve");
        for (flag, addr) in [
            ("--proxy-listen", proxy),
            ("--proxy-listen-tls", proxy_tls),
            ("--status-listen", status),
        ] {
            if !extra.contains(&flag) {
                command.arg(flag).arg(addr.to_string());
            }
        }
        if !extra.contains(&"--prefix") {
            command.arg("--prefix").arg(prefix.path());
        }
        command.args(extra);
        let log = prefix.path().join("portico-dp.log");
        let process = Process::spawn_logged(command, &name, Some(&log));
        let mut dp = DataPlane {
            process,
            proxy,
            proxy_tls,
            status,
            prefix,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let req = http::Request::get("/status")
                .header("host", "localhost")
                .body(Default::default())
                .expect("request");
            if crate::client::send(dp.status, req).await.is_ok() {
                break;
            }
            let running = dp.process.running();
            if !running || Instant::now() > deadline {
                panic!(
                    "{name} did not come up (running: {running}); its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        dp
    }

    /// What the process wrote to stderr so far (its log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.prefix.path().join("portico-dp.log")).unwrap_or_default()
    }

    /// `GET /status/ready` status code.
    pub async fn ready_status(&self) -> Option<u16> {
        let req = http::Request::get("/status/ready")
            .header("host", "localhost")
            .body(Default::default())
            .ok()?;
        crate::client::send(self.status, req)
            .await
            .ok()
            .map(|r| r.status.as_u16())
    }
}
