//! `runc exec`: extra processes in a running container, with pipes or a pty.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use oci_spec::runtime::Spec;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::runc::Runc;
use crate::{IoContext, RuntimeError};

/// A process to run in a container. The container's env is the base; `env` overrides it.
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub tty: bool,
    pub stdin: bool,
    pub cwd: Option<String>,
}

pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// A running exec. With a tty, `stdout` carries the merged output and `stderr` is `None`.
pub struct ExecProcess {
    pub stdin: Option<BoxWrite>,
    pub stdout: Option<BoxRead>,
    pub stderr: Option<BoxRead>,
    child: tokio::process::Child,
    pty: Option<Arc<AsyncFd<OwnedFd>>>,
    cleanup: Vec<PathBuf>,
}

impl std::fmt::Debug for ExecProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecProcess")
            .field("pid", &self.child.id())
            .field("tty", &self.pty.is_some())
            .finish()
    }
}

impl ExecProcess {
    /// Waits for the process; returns its exit code (128+signal if it was killed).
    pub async fn wait(&mut self) -> Result<i32, RuntimeError> {
        let st = self
            .child
            .wait()
            .await
            .map_err(|e| RuntimeError::io("waiting for runtime exec", e))?;
        for p in self.cleanup.drain(..) {
            let _ = std::fs::remove_file(p);
        }
        use std::os::unix::process::ExitStatusExt;
        Ok(st
            .code()
            .or_else(|| st.signal().map(|s| 128 + s))
            .unwrap_or(255))
    }

    /// Sets the terminal size (tty execs only; a no-op otherwise).
    pub fn resize(&self, width: u16, height: u16) -> Result<(), RuntimeError> {
        if let Some(pty) = &self.pty {
            set_winsize(pty.get_ref().as_raw_fd(), width, height)?;
        }
        Ok(())
    }
}

impl Drop for ExecProcess {
    fn drop(&mut self) {
        for p in self.cleanup.drain(..) {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub(crate) fn set_winsize(fd: i32, width: u16, height: u16) -> Result<(), RuntimeError> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own.
    let r = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    if r != 0 {
        return Err(RuntimeError::io(
            "resizing the terminal",
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Non-blocking pty master usable as AsyncRead/AsyncWrite; EIO (slave closed) reads as EOF.
struct Pty(Arc<AsyncFd<OwnedFd>>);

impl AsyncRead for Pty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let res = guard.try_io(|fd| {
                // SAFETY: reading into a buffer we own, of the length we pass.
                let n = unsafe {
                    libc::read(
                        fd.get_ref().as_raw_fd(),
                        unfilled.as_mut_ptr().cast(),
                        unfilled.len(),
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match res {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            let res = guard.try_io(|fd| {
                // SAFETY: writing from a buffer we own, of the length we pass.
                let n = unsafe {
                    libc::write(fd.get_ref().as_raw_fd(), data.as_ptr().cast(), data.len())
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match res {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(bundle: &Path, prefix: &str, ext: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    bundle.join(format!("{prefix}-{}-{n}.{ext}", std::process::id()))
}

/// Builds the exec process JSON from the container's own process (user, caps, rlimits, env).
fn process_json(bundle: &Path, spec: &ExecSpec) -> Result<serde_json::Value, RuntimeError> {
    let cfg = Spec::load(bundle.join("config.json"))
        .map_err(|e| RuntimeError::Oci(format!("reading the container's config.json: {e}")))?;
    let mut process = cfg
        .process()
        .clone()
        .ok_or_else(|| RuntimeError::Oci("container config has no process".into()))?;
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    for (k, v) in &spec.env {
        let prefix = format!("{k}=");
        env.retain(|e| !e.starts_with(&prefix));
        env.push(format!("{k}={v}"));
    }
    if spec.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    process.set_env(Some(env));
    process.set_args(Some(spec.argv.clone()));
    process.set_terminal(Some(spec.tty));
    process.set_console_size(None);
    if let Some(cwd) = spec.cwd.as_ref().filter(|c| !c.is_empty()) {
        process.set_cwd(PathBuf::from(cwd));
    }
    serde_json::to_value(&process).map_err(|e| RuntimeError::Oci(e.to_string()))
}

pub async fn spawn(
    runc: &Runc,
    shim_binary: &Path,
    bundle: &Path,
    id: &str,
    spec: ExecSpec,
) -> Result<ExecProcess, RuntimeError> {
    if spec.argv.is_empty() {
        return Err(RuntimeError::InvalidSpec("exec: empty command".into()));
    }
    let pj = process_json(bundle, &spec)?;
    let ppath = unique(bundle, "exec", "json");
    std::fs::write(&ppath, pj.to_string()).ctx(|| format!("writing {}", ppath.display()))?;
    let mut cleanup = vec![ppath.clone()];

    if !spec.tty {
        let mut cmd: tokio::process::Command = runc.command().into();
        cmd.arg("exec").arg("--process").arg(&ppath);
        cmd.arg(id)
            .stdin(if spec.stdin {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| RuntimeError::io(format!("running {} exec", runc.binary.display()), e))?;
        return Ok(ExecProcess {
            stdin: child.stdin.take().map(|s| Box::new(s) as BoxWrite),
            stdout: child.stdout.take().map(|s| Box::new(s) as BoxRead),
            stderr: child.stderr.take().map(|s| Box::new(s) as BoxRead),
            child,
            pty: None,
            cleanup,
        });
    }

    let sock = unique(bundle, "exec", "sock");
    let listener = crate::shim::console_listener(&sock)
        .ctx(|| format!("binding console socket {}", sock.display()))?;
    cleanup.push(sock.clone());
    // runc only hands out the console when it detaches, and then it cannot report the exit
    // code: run it under the shim's exec helper, which reaps the process and exits with it.
    let pid_file = unique(bundle, "exec", "pid");
    cleanup.push(pid_file.clone());
    let mut cmd = tokio::process::Command::new(shim_binary);
    cmd.arg("shim")
        .arg(crate::shim::EXEC_HELPER)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("--")
        .arg(&runc.binary)
        .arg("--root")
        .arg(&runc.root)
        .arg("exec")
        .arg("--detach")
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("--process")
        .arg(&ppath)
        .arg("--console-socket")
        .arg(&sock)
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| RuntimeError::io(format!("running {} exec", runc.binary.display()), e))?;
    listener
        .set_nonblocking(true)
        .ctx(|| "console socket".to_string())?;
    let listener =
        tokio::net::UnixListener::from_std(listener).ctx(|| "console socket".to_string())?;
    let stream = tokio::select! {
        r = listener.accept() => r.ctx(|| "accepting the console".to_string())?.0,
        st = child.wait() => {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = e.read_to_string(&mut err).await;
            }
            return Err(RuntimeError::Runc {
                binary: runc.binary.display().to_string(),
                what: format!("exec ({})", st.map(|s| s.to_string()).unwrap_or_default()),
                stderr: err.trim().to_string(),
            });
        }
    };
    let std_stream = stream.into_std().ctx(|| "console socket".to_string())?;
    let master = tokio::task::spawn_blocking(move || recv_master(std_stream))
        .await
        .map_err(|e| RuntimeError::Other(format!("console task: {e}")))??;
    nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .map_err(|e| RuntimeError::Other(format!("console fcntl: {e}")))?;
    // SAFETY: `master` is a valid fd we own; it is neither closed nor replaced while the
    // AsyncFd holds it.
    let pty = Arc::new(
        unsafe { AsyncFd::register(master) }
            .map_err(|e| RuntimeError::Other(format!("registering the console: {e}")))?,
    );
    Ok(ExecProcess {
        stdin: spec.stdin.then(|| Box::new(Pty(pty.clone())) as BoxWrite),
        stdout: Some(Box::new(Pty(pty.clone()))),
        stderr: None,
        child,
        pty: Some(pty),
        cleanup,
    })
}

fn recv_master(stream: std::os::unix::net::UnixStream) -> Result<OwnedFd, RuntimeError> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    stream
        .set_nonblocking(false)
        .ctx(|| "console socket".to_string())?;
    let mut buf = [0u8; 4096];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| RuntimeError::Other(format!("receiving the console fd: {e}")))?;
    for c in msg
        .cmsgs()
        .map_err(|e| RuntimeError::Other(format!("console cmsg: {e}")))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just gave us this fd; we own it.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(RuntimeError::Other("the runtime sent no console fd".into()))
}
