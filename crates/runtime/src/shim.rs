//! The per-container shim (the role of conmon / containerd-shim).
//!
//! Started as `<minato> shim --bundle <dir>` by [`spawn`]; it forks once so the caller can
//! reap the first process at once, and the survivor (in its own session, a child subreaper)
//! runs `runc run --detach` (create and start in one call), copies the container's output into the CRI log file,
//! reaps the container's init, writes `status.json` and exits. It survives the agent.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::cgroups::OomFiles;
use crate::records::{self, ShimPid, Started, Status};
use crate::{IoContext, RuntimeError};

pub const SHIM_CONFIG: &str = "shim.json";
pub const STDIN_FIFO: &str = "stdin";
const CONSOLE_SOCKET: &str = "console.sock";
const PID_FILE: &str = "init.pid";
const RUNC_LOG: &str = "runc.log";
/// Lines longer than this are split into partial (`P`) records, like containerd.
pub const MAX_LINE: usize = 16 * 1024;

/// What the shim needs, written by the agent into `<bundle>/shim.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: PathBuf,
    pub runtime_root: PathBuf,
    pub log_path: PathBuf,
    pub tty: bool,
    pub stdin: bool,
    pub stdin_once: bool,
    pub cgroup_path: String,
    pub oom_files: Option<OomFiles>,
}

/// Starts the shim for `bundle`, detached (own session, stdio not ours). Returns once the
/// first shim process has forked off the long-lived one.
pub async fn spawn(shim_binary: &Path, bundle: &Path) -> Result<(), RuntimeError> {
    let log_path = bundle.join("shim.log");
    let log = File::create(&log_path).ctx(|| format!("creating {}", log_path.display()))?;
    let log2 = log
        .try_clone()
        .ctx(|| format!("duplicating {}", log_path.display()))?;
    let mut cmd = tokio::process::Command::new(shim_binary);
    cmd.arg("shim")
        .arg("--bundle")
        .arg(bundle)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // Its own process group keeps terminal signals to the agent away from the first shim
    // process; the long-lived one calls setsid() itself after its fork (see `main`). No
    // `pre_exec` here on purpose: without one std spawns with posix_spawn (vfork-like), where
    // a pre_exec hook forces a full fork() that copies the page tables of the (large) agent
    // process for every container, a visible cost when many pods start at once.
    cmd.process_group(0);
    let status = cmd.status().await.map_err(|e| {
        RuntimeError::io(
            format!(
                "starting the shim {} (is shim_binary right?)",
                shim_binary.display()
            ),
            e,
        )
    })?;
    if !status.success() {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        return Err(RuntimeError::Other(format!(
            "the shim {} failed ({status}): {}",
            shim_binary.display(),
            log.trim()
        )));
    }
    Ok(())
}

/// Entry point of `minato shim --bundle <dir>`. Accepts the args with or without a leading
/// `shim`. Must be called before any threads are started (it forks).
pub fn main(args: Vec<String>) -> ! {
    let args: Vec<String> = match args.first().map(String::as_str) {
        Some("shim") => args[1..].to_vec(),
        _ => args,
    };
    if args.first().map(String::as_str) == Some(EXEC_HELPER) {
        exec_helper(&args[1..]);
    }
    let mut bundle = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--bundle" {
            bundle = it.next();
        } else if let Some(v) = a.strip_prefix("--bundle=") {
            bundle = Some(v.to_string());
        }
    }
    let Some(bundle) = bundle else {
        eprintln!("usage: minato shim --bundle <bundle-dir>");
        std::process::exit(2);
    };
    // SAFETY: called at process start, single-threaded (documented requirement).
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => std::process::exit(0),
        Ok(nix::unistd::ForkResult::Child) => {}
        Err(e) => {
            eprintln!("minato shim: fork: {e}");
            std::process::exit(1);
        }
    }
    let _ = nix::unistd::setsid();
    let code = match run(Path::new(&bundle)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("minato shim: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn now_ts() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The kubelet's defaults for container log rotation (containerLogMaxSize, containerLogMaxFiles).
const LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
const LOG_MAX_FILES: usize = 5;

/// Appends CRI-format records to the container log (one write per record, O_APPEND), rotating
/// it past [`LOG_MAX_BYTES`]: the file is renamed to `<name>.<UTC timestamp>`, a new one is
/// started, and only the newest [`LOG_MAX_FILES`] files (current included) are kept.
struct CriWriter {
    file: File,
    path: PathBuf,
    written: u64,
}

impl CriWriter {
    fn open(path: &Path) -> std::io::Result<CriWriter> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(CriWriter {
            file,
            path: path.to_path_buf(),
            written,
        })
    }

    fn rotate(&mut self) {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S%.6f");
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rotated = self.path.with_file_name(format!("{name}.{stamp}"));
        if std::fs::rename(&self.path, &rotated).is_err() {
            return;
        }
        match CriWriter::open(&self.path) {
            Ok(w) => *self = w,
            Err(e) => eprintln!("minato shim: reopening log after rotation: {e}"),
        }
        // Oldest rotated files beyond the limit go.
        let Some(dir) = self.path.parent() else {
            return;
        };
        let prefix = format!("{name}.");
        let mut old: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        old.sort();
        let excess = old.len().saturating_sub(LOG_MAX_FILES - 1);
        for p in old.into_iter().take(excess) {
            let _ = std::fs::remove_file(p);
        }
    }

    fn write(&mut self, stream: &str, partial: bool, content: &[u8]) {
        if self.written >= LOG_MAX_BYTES {
            self.rotate();
        }
        let mut rec = Vec::with_capacity(content.len() + 48);
        rec.extend_from_slice(now_ts().as_bytes());
        rec.push(b' ');
        rec.extend_from_slice(stream.as_bytes());
        rec.extend_from_slice(if partial { b" P " } else { b" F " });
        rec.extend_from_slice(content);
        rec.push(b'\n');
        match self.file.write_all(&rec) {
            Ok(()) => self.written += rec.len() as u64,
            Err(e) => eprintln!("minato shim: writing log: {e}"),
        }
    }
}

/// Copies a stream into the log, splitting lines; returns at EOF (or EIO on a pty).
fn copy_output(mut src: File, stream: &'static str, log: Arc<Mutex<CriWriter>>, tty: bool) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let emit = |line: &[u8], partial: bool| {
        if let Ok(mut w) = log.lock() {
            w.write(stream, partial, line);
        }
    };
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break, // EIO: the pty's last slave closed.
        };
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(pos) = pending[start..].iter().position(|b| *b == b'\n') {
            let mut line = &pending[start..start + pos];
            if tty {
                line = line.strip_suffix(b"\r").unwrap_or(line);
            }
            // Long lines become partial records whatever the read sizes were.
            while line.len() > MAX_LINE {
                emit(&line[..MAX_LINE], true);
                line = &line[MAX_LINE..];
            }
            emit(line, false);
            start += pos + 1;
        }
        pending.drain(..start);
        while pending.len() >= MAX_LINE {
            emit(&pending[..MAX_LINE], true);
            pending.drain(..MAX_LINE);
        }
    }
    if !pending.is_empty() {
        emit(&pending, false);
    }
}

/// Feeds the stdin fifo into the container: each writer that opens the fifo is copied until
/// it closes; with `once` the container's stdin is closed after the first writer.
fn copy_stdin(fifo: PathBuf, target: File, once: bool, tty: bool) {
    let mut target = target;
    loop {
        let mut f = match File::open(&fifo) {
            Ok(f) => f,
            Err(_) => return,
        };
        let _ = std::io::copy(&mut f, &mut target);
        if once {
            if tty {
                // A pty has no half-close: send EOF (^D) to the line discipline.
                let _ = target.write_all(&[4]);
            }
            return; // dropping `target` closes the pipe: the container sees EOF.
        }
    }
}

fn runc_error(bundle: &Path, stderr: &[u8]) -> String {
    let mut msgs = Vec::new();
    if let Ok(s) = std::fs::read_to_string(bundle.join(RUNC_LOG)) {
        for l in s.lines() {
            match serde_json::from_str::<serde_json::Value>(l) {
                Ok(v) if v.get("level").and_then(|x| x.as_str()) == Some("error") => {
                    if let Some(m) = v.get("msg").and_then(|x| x.as_str()) {
                        msgs.push(m.to_string());
                    }
                }
                Ok(_) => {}
                Err(_) => msgs.push(l.to_string()),
            }
        }
    }
    let e = String::from_utf8_lossy(stderr).trim().to_string();
    if !e.is_empty() {
        msgs.push(e);
    }
    if msgs.is_empty() {
        "unknown error (no output from the OCI runtime)".into()
    } else {
        msgs.join("; ")
    }
}

fn fail(cfg: &ShimConfig, msg: String) -> Result<(), String> {
    let _ = Command::new(&cfg.runtime)
        .arg("--root")
        .arg(&cfg.runtime_root)
        .args(["delete", "--force", &cfg.id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let st = Status {
        exit_code: 128,
        signal: None,
        finished_at: SystemTime::now(),
        oom_killed: false,
        error: Some(msg.clone()),
    };
    records::write_json_atomic(&cfg.bundle.join(records::STATUS_FILE), &st)
        .map_err(|e| e.to_string())?;
    Err(msg)
}

fn recv_fd(listener: &UnixListener, child: &mut std::process::Child) -> Result<OwnedFd, String> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("console socket: {e}"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Ok(Some(st)) = child.try_wait() {
                    // It may have connected just before exiting.
                    if let Ok((s, _)) = listener.accept() {
                        break s;
                    }
                    return Err(format!("runtime exited ({st}) without sending the console"));
                }
                if std::time::Instant::now() > deadline {
                    return Err("timed out waiting for the console from the runtime".into());
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(format!("console socket accept: {e}")),
        }
    };
    stream
        .set_nonblocking(false)
        .map_err(|e| format!("console socket: {e}"))?;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| format!("receiving the console fd: {e}"))?;
    for c in msg.cmsgs().map_err(|e| format!("console cmsg: {e}"))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just gave us this fd; we own it.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err("the runtime sent no console fd".into())
}

pub(crate) fn console_listener(path: &Path) -> std::io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path)
}

fn run(bundle: &Path) -> Result<(), String> {
    // SAFETY: plain prctl without pointers.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let me = std::process::id();
    let start_time = records::proc_stat(me).map(|s| s.0).unwrap_or(0);
    records::write_json_atomic(
        &bundle.join(records::SHIM_PID_FILE),
        &ShimPid {
            pid: me,
            start_time,
        },
    )
    .map_err(|e| e.to_string())?;
    let cfg: ShimConfig = serde_json::from_slice(
        &std::fs::read(bundle.join(SHIM_CONFIG)).map_err(|e| format!("reading shim.json: {e}"))?,
    )
    .map_err(|e| format!("parsing shim.json: {e}"))?;

    let writer = CriWriter::open(&cfg.log_path)
        .map_err(|e| format!("opening log {}: {e}", cfg.log_path.display()));
    let writer = match writer {
        Ok(w) => w,
        Err(e) => return fail(&cfg, e),
    };
    let log = Arc::new(Mutex::new(writer));

    let fifo = bundle.join(STDIN_FIFO);
    if cfg.stdin {
        let _ = std::fs::remove_file(&fifo);
        if let Err(e) = nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
        {
            return fail(&cfg, format!("creating stdin fifo: {e}"));
        }
    }

    let pid_file = bundle.join(PID_FILE);
    let mut create = Command::new(&cfg.runtime);
    create
        .arg("--root")
        .arg(&cfg.runtime_root)
        .arg("--log")
        .arg(bundle.join(RUNC_LOG))
        .arg("--log-format")
        .arg("json")
        // `run --detach` = create + start in one runtime process: one Go process (and its
        // start-up) fewer per container than `create` followed by `start`. The container's
        // init is reparented to us (child subreaper) once the runtime exits, so it is reaped
        // below as before.
        .arg("run")
        .arg("--detach")
        .arg("--bundle")
        .arg(bundle)
        .arg("--pid-file")
        .arg(&pid_file);

    let mut readers: Vec<(File, &'static str)> = Vec::new();
    let mut stdin_target: Option<File> = None;
    let console_path = bundle.join(CONSOLE_SOCKET);
    let mut listener = None;
    if cfg.tty {
        let l = match console_listener(&console_path) {
            Ok(l) => l,
            Err(e) => return fail(&cfg, format!("console socket: {e}")),
        };
        listener = Some(l);
        create.arg("--console-socket").arg(&console_path);
        create
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
    } else {
        let (out_r, out_w) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
        let (err_r, err_w) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
        readers.push((File::from(out_r), "stdout"));
        readers.push((File::from(err_r), "stderr"));
        create.stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
        if cfg.stdin {
            let (in_r, in_w) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
            create.stdin(Stdio::from(in_r));
            stdin_target = Some(File::from(in_w));
        } else {
            create.stdin(Stdio::null());
        }
    }
    create.arg(&cfg.id);
    let mut child = match create.spawn() {
        Ok(c) => c,
        Err(e) => return fail(&cfg, format!("running {}: {e}", cfg.runtime.display())),
    };
    // Close our copies of the container's pipe ends: EOF must come when the container exits.
    drop(create);
    if let Some(l) = &listener {
        match recv_fd(l, &mut child) {
            Ok(master) => {
                let master = File::from(master);
                if cfg.stdin {
                    match master.try_clone() {
                        Ok(m) => stdin_target = Some(m),
                        Err(e) => return fail(&cfg, format!("dup console: {e}")),
                    }
                }
                readers.push((master, "stdout"));
            }
            Err(e) => {
                let out = child.wait_with_output().ok();
                let stderr = out.map(|o| o.stderr).unwrap_or_default();
                return fail(&cfg, format!("{e}: {}", runc_error(bundle, &stderr)));
            }
        }
    }
    let out = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => return fail(&cfg, format!("waiting for runtime run: {e}")),
    };
    if !out.status.success() {
        return fail(&cfg, runc_error(bundle, &out.stderr));
    }
    let _ = std::fs::remove_file(&console_path);
    let pid: u32 = match std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        Some(p) => p,
        None => {
            return fail(
                &cfg,
                format!("runtime wrote no pid to {}", pid_file.display()),
            )
        }
    };
    let pid_start_time = records::proc_stat(pid).map(|s| s.0).unwrap_or(0);

    let mut threads = Vec::new();
    for (f, stream) in readers {
        let log = log.clone();
        let tty = cfg.tty;
        threads.push(std::thread::spawn(move || copy_output(f, stream, log, tty)));
    }
    if let Some(t) = stdin_target {
        let (fifo, once, tty) = (fifo.clone(), cfg.stdin_once, cfg.tty);
        std::thread::spawn(move || copy_stdin(fifo, t, once, tty));
    }

    let started_at = SystemTime::now();
    records::write_json_atomic(
        &bundle.join(records::STARTED_FILE),
        &Started {
            pid,
            started_at,
            pid_start_time,
        },
    )
    .map_err(|e| e.to_string())?;

    let (exit_code, signal) = reap(pid);
    let finished_at = SystemTime::now();
    // Let the output drain; a process that escaped the pid namespace could hold the pipes
    // forever, so do not wait unboundedly.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for t in threads {
            let _ = t.join();
        }
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(Duration::from_secs(2));
    let oom_killed = cfg
        .oom_files
        .as_ref()
        .and_then(|o| crate::cgroups::read_keyed(&o.file, "oom_kill"))
        .map(|n| n > 0)
        .unwrap_or(false);
    let st = Status {
        exit_code,
        signal,
        finished_at,
        oom_killed,
        error: None,
    };
    records::write_json_atomic(&bundle.join(records::STATUS_FILE), &st)
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Waits for the container's init (reparented to us, the subreaper) and decodes its status.
fn reap(pid: u32) -> (i32, Option<i32>) {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() as u32 == pid => return (code, None),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() as u32 == pid => {
                return (128 + sig as i32, Some(sig as i32))
            }
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                // Not our child (should not happen): poll until it is gone.
                eprintln!("minato shim: waitpid: {e}; polling pid {pid}");
                while Path::new(&format!("/proc/{pid}")).exists() {
                    std::thread::sleep(Duration::from_millis(100));
                }
                return (records::UNKNOWN_EXIT_CODE, None);
            }
        }
    }
}

/// Subcommand: `minato shim exec-wait --pid-file P -- <runtime> <args...>`.
pub const EXEC_HELPER: &str = "exec-wait";

/// Runs a detached `runc exec` (needed for a console socket) as a child subreaper, waits
/// for the exec'd process (reparented to us) and exits with its status, so the caller gets
/// the exit code as with a non-detached exec.
fn exec_helper(args: &[String]) -> ! {
    let mut pid_file = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--pid-file" => {
                pid_file = args.get(i + 1).cloned();
                i += 2;
            }
            "--" => {
                i += 1;
                break;
            }
            _ => i += 1,
        }
    }
    let (Some(pid_file), Some(runtime)) = (pid_file, args.get(i)) else {
        eprintln!("usage: minato shim {EXEC_HELPER} --pid-file P -- <runtime> <args...>");
        std::process::exit(2);
    };
    // SAFETY: plain prctl without pointers.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let st = Command::new(runtime).args(&args[i + 1..]).status();
    match st {
        Ok(s) if s.success() => {}
        Ok(s) => std::process::exit(s.code().unwrap_or(255)),
        Err(e) => {
            eprintln!("running {runtime}: {e}");
            std::process::exit(255);
        }
    }
    let Some(pid) = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    else {
        eprintln!("the runtime wrote no pid to {pid_file}");
        std::process::exit(255);
    };
    let _ = std::fs::remove_file(&pid_file);
    let (code, _) = reap(pid);
    std::process::exit(code)
}
