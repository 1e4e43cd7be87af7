//! The init process of a pod's shared PID namespace (`shareProcessNamespace: true`).
//!
//! A PID namespace lives only as long as its first process, so unlike the network, IPC and
//! UTS namespaces it cannot be kept by a bind mount: upstream runs the pause container as that
//! process. Here the minato binary plays it: started with `argv[0] = "/pause"` and
//! [`HOLDER_ENV`] set, it unshares a PID namespace, forks the holder (PID 1 inside, so `ps` in
//! the pod's containers shows `/pause` as PID 1, as upstream), prints the holder's host PID and
//! exits. The holder leaves the agent's session, chroots into an empty directory, drops to
//! uid/gid 65535 (the pause image's user) so containers cannot reach the host through
//! `/proc/1/root`, and reaps the orphans that are re-parented to it. It
//! survives agent restarts, like the shims; the agent finds it again by PID and start time.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};

use crate::records::{proc_stat, same_process};
use crate::RuntimeError;

/// Set (to the empty root directory) in the environment of the holder's launcher.
pub const HOLDER_ENV: &str = "MINATO_PID_NAMESPACE_HOLDER";
/// The pause image's user and group.
const PAUSE_ID: u32 = 65535;

/// A running holder, recorded by the agent so a restarted agent finds it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidHolder {
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22): tells the holder
    /// from a later process that got the same PID.
    pub start_time: u64,
}

impl PidHolder {
    pub fn is_alive(&self) -> bool {
        same_process(self.pid, self.start_time)
    }

    /// The namespace containers join.
    pub fn namespace_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/pid", self.pid))
    }

    /// Kills the holder, and with it every process left in the namespace (the kernel kills
    /// them all when a PID namespace's init exits). Does nothing if it is already gone.
    pub fn stop(&self) {
        if self.is_alive() {
            // PID and start time checked just above: this is our process.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Starts a holder with the minato binary `binary`, chrooted into `empty_dir` (created if
/// missing; it must stay empty).
pub async fn start(binary: &Path, empty_dir: &Path) -> Result<PidHolder, RuntimeError> {
    std::fs::create_dir_all(empty_dir)
        .map_err(|e| RuntimeError::io(format!("creating {}", empty_dir.display()), e))?;
    let mut cmd = tokio::process::Command::new(binary);
    cmd.arg0("/pause")
        .env_clear()
        .env(HOLDER_ENV, empty_dir)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let out = cmd.output().await.map_err(|e| {
        RuntimeError::io(
            format!("starting the PID namespace holder {}", binary.display()),
            e,
        )
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pid = text
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|_| out.status.success());
    let Some(pid) = pid else {
        return Err(RuntimeError::Other(format!(
            "the PID namespace holder failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    };
    let start_time = proc_stat(pid).map(|(t, _)| t).ok_or_else(|| {
        RuntimeError::Other(format!(
            "the PID namespace holder (pid {pid}) exited at once"
        ))
    })?;
    Ok(PidHolder { pid, start_time })
}

/// Entry point: runs the holder if this process was started as one, else returns. Call it
/// first thing in `main`, while the process has one thread (it forks).
pub fn main_if_holder() {
    let Some(root) = std::env::var_os(HOLDER_ENV) else {
        return;
    };
    std::process::exit(launch(Path::new(&root)))
}

fn launch(root: &Path) -> i32 {
    use nix::sched::{unshare, CloneFlags};
    use nix::unistd::{fork, ForkResult};
    if let Err(e) = unshare(CloneFlags::CLONE_NEWPID) {
        eprintln!("cannot create a PID namespace: {e} (the agent must run as root)");
        return 1;
    }
    // SAFETY: single-threaded at this point (documented requirement of `main_if_holder`).
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            println!("{child}");
            0
        }
        Ok(ForkResult::Child) => hold(root),
        Err(e) => {
            eprintln!("cannot fork the PID namespace holder: {e}");
            1
        }
    }
}

/// The holder itself: PID 1 of the new namespace.
fn hold(root: &Path) -> ! {
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::{chdir, chroot, setgid, setgroups, setsid, setuid, Gid, Uid};
    let _ = setsid();
    // Our stdout is the launcher's pipe: keep it from holding the agent's read open.
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of this single-threaded process.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    let confined = chroot(root)
        .and_then(|_| chdir("/"))
        .and_then(|_| setgroups(&[]))
        .and_then(|_| setgid(Gid::from_raw(PAUSE_ID)))
        .and_then(|_| setuid(Uid::from_raw(PAUSE_ID)));
    if confined.is_err() {
        // Better no holder than one a container could use to reach the host.
        std::process::exit(1);
    }
    // Only SIGCHLD is taken. Other signals keep their default action, which the kernel
    // does not apply to a namespace's init when they come from inside it: a container cannot
    // end the pod's namespace; the agent ends it with SIGKILL.
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    let _ = set.thread_block();
    loop {
        if set.wait().is_err() {
            std::thread::sleep(std::time::Duration::from_secs(1));
            continue;
        }
        // Reap every exited orphan: several may share one SIGCHLD.
        while let Ok(st) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            if st == WaitStatus::StillAlive {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_or_reused_pid_is_not_the_holder() {
        let me = std::process::id();
        let (t, _) = proc_stat(me).unwrap();
        assert!(PidHolder {
            pid: me,
            start_time: t
        }
        .is_alive());
        assert!(!PidHolder {
            pid: me,
            start_time: t + 1
        }
        .is_alive());
        assert_eq!(
            PidHolder {
                pid: 42,
                start_time: 0
            }
            .namespace_path(),
            PathBuf::from("/proc/42/ns/pid")
        );
    }
}
