//! Launching a fresh `minato server` (temp data dir, random loopback port) and stopping it by PID.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::raw::{Conn, RawTarget};

pub struct Server {
    child: Child,
    pub pid: u32,
    /// Holds the data dir and the server log; removed on drop (None: the caller owns them).
    _dir: Option<tempfile::TempDir>,
    pub data_dir: PathBuf,
    pub kubeconfig: PathBuf,
    log: PathBuf,
    /// From spawn to the first `/readyz` answering `ok`.
    pub ready_after: Duration,
}

const READY_DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(2);

impl Server {
    /// A plain API server: no node agent (it would make a bridge and cgroups on the host).
    pub async fn launch(bin: &Path) -> Result<Server> {
        Self::launch_with(bin, None, &["--no-agent"]).await
    }

    /// Launches with extra server flags. With `base`, the data dir is `base/data` and the log
    /// `base/server.log`, and the caller removes them (e.g. only after `minato reset`);
    /// otherwise both live in a temp dir removed on drop.
    pub async fn launch_with<S: AsRef<std::ffi::OsStr>>(
        bin: &Path,
        base: Option<&Path>,
        extra: &[S],
    ) -> Result<Server> {
        let (dir, base) = match base {
            Some(b) => (None, b.to_path_buf()),
            None => {
                let d = tempfile::Builder::new().prefix("minato-bench-").tempdir()?;
                let p = d.path().to_path_buf();
                (Some(d), p)
            }
        };
        let data_dir = base.join("data");
        let log = base.join("server.log");
        let kubeconfig = data_dir.join("admin.kubeconfig");
        let log_file = std::fs::File::create(&log)?;
        let started = Instant::now();
        let child = Command::new(bin)
            .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(extra)
            .env("MINATO_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut server = Server {
            pid: child.id(),
            child,
            _dir: dir,
            data_dir,
            kubeconfig,
            log,
            ready_after: Duration::ZERO,
        };
        server.ready_after = server.wait_ready(started).await?;
        Ok(server)
    }

    /// Polls `/readyz` over HTTPS with the admin client certificate until it answers `ok`.
    async fn wait_ready(&mut self, started: Instant) -> Result<Duration> {
        let mut raw: Option<RawTarget> = None;
        let mut conn: Option<Conn> = None;
        while started.elapsed() < READY_DEADLINE {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "minato exited ({status}) before ready:\n{}",
                    self.log_tail()
                );
            }
            // The kubeconfig appears once the port is bound; it may be half-written at first.
            if raw.is_none() && self.kubeconfig.exists() {
                raw = RawTarget::from_kubeconfig(&self.kubeconfig).ok();
            }
            if let Some(r) = &raw {
                if conn.is_none() {
                    conn = tokio::time::timeout(Duration::from_secs(1), r.connect())
                        .await
                        .ok()
                        .and_then(Result::ok);
                }
                if let Some(c) = conn.as_mut() {
                    match r.get_text(c, "/readyz", Duration::from_secs(1)).await {
                        Ok((s, body)) if s.is_success() && body.trim() == "ok" => {
                            return Ok(started.elapsed())
                        }
                        Ok(_) => {}
                        Err(_) => conn = None,
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
        bail!(
            "minato not ready within {READY_DEADLINE:?}:\n{}",
            self.log_tail()
        )
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Resident set size from /proc/PID/status, in bytes.
    pub fn rss_bytes(&self) -> Result<u64> {
        proc_status_bytes(self.pid, "VmRSS")
    }

    /// Peak resident set size (VmHWM) from /proc/PID/status, in bytes.
    pub fn peak_rss_bytes(&self) -> Result<u64> {
        proc_status_bytes(self.pid, "VmHWM")
    }

    /// Bytes in state.db and state.db-wal.
    pub fn store_bytes(&self) -> (u64, u64) {
        let size = |n: &str| {
            std::fs::metadata(self.data_dir.join(n))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        (size("state.db"), size("state.db-wal"))
    }

    /// SIGTERM by PID, then SIGKILL after 5 s.
    pub fn stop(mut self) {
        self.terminate();
    }

    /// SIGKILL by PID at once (the node agent's containers keep running; `minato reset` next).
    pub fn kill(mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A `Key:   N kB` line of /proc/PID/status, in bytes.
pub fn proc_status_bytes(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.split(':').next() == Some(key))
        .with_context(|| format!("no {key} line in /proc/{pid}/status"))?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("bad {key} line"))?
        .parse()?;
    Ok(kb * 1024)
}

/// User + system CPU time of a process so far (utime + stime of /proc/PID/stat).
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; fields after it are space-separated.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("bad /proc/PID/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")": f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
    let ticks: u64 = f.get(11).context("no utime")?.parse::<u64>()?
        + f.get(12).context("no stime")?.parse::<u64>()?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless told otherwise).
fn clock_ticks() -> u64 {
    static TCK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}
