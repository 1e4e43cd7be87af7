//! Persistent namespaces: unshare on a throw-away thread and bind-mount its namespace files.
//!
//! Why in-process rather than `unshare(1)`: net/IPC/UTS namespaces are per-thread, so a short
//! dedicated thread can unshare them, set the hostname and bind-mount
//! `/proc/thread-self/ns/*` without fork() in a multi-threaded (tokio) process and without
//! parsing another tool's errors. The thread exits afterwards; the bind mounts keep the
//! namespaces alive.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::{io_err, NetError};

pub(crate) struct Made {
    pub net: Option<PathBuf>,
    pub ipc: PathBuf,
    pub uts: Option<PathBuf>,
}

/// True if `path` is a mounted namespace file (a bind mount of nsfs).
pub(crate) fn is_nsfs(path: &Path) -> bool {
    matches!(nix::sys::statfs::statfs(path), Ok(s) if s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// Bind-mounts `dir` onto itself (once) and makes it private, so namespace mounts under it do
/// not propagate into other mount namespaces (e.g. containers' copies of the host tree would
/// otherwise pin the namespaces after we unmount them).
pub(crate) fn make_private_mount(dir: &Path) -> Result<(), NetError> {
    if !is_mountpoint(dir)? {
        mount(
            Some(dir),
            dir,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|source| NetError::Sys {
            what: format!("bind-mounting {} onto itself", dir.display()),
            source,
        })?;
    }
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|source| NetError::Sys {
        what: format!("making {} a private mount", dir.display()),
        source,
    })
}

/// Lazily unmounts `dir` if it is a mount point (idempotent).
pub(crate) fn unmount_dir(dir: &Path) -> Result<(), NetError> {
    if dir.exists() && is_mountpoint(dir)? {
        umount2(dir, MntFlags::MNT_DETACH).map_err(|source| NetError::Sys {
            what: format!("unmounting {}", dir.display()),
            source,
        })?;
    }
    Ok(())
}

fn is_mountpoint(dir: &Path) -> Result<bool, NetError> {
    let canon = dir
        .canonicalize()
        .map_err(io_err(format!("resolving {}", dir.display())))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(io_err("reading /proc/self/mountinfo"))?;
    Ok(info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| Path::new(&unescape_mountinfo(mp)) == canon))
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Creates `dir/{net,ipc,uts}` namespace files. IPC always; net and UTS unless host network.
pub(crate) fn create_namespaces(
    dir: &Path,
    net: bool,
    hostname: Option<&str>,
) -> Result<Made, NetError> {
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let mut kinds: Vec<(&'static str, CloneFlags)> = vec![("ipc", CloneFlags::CLONE_NEWIPC)];
    if net {
        kinds.push(("net", CloneFlags::CLONE_NEWNET));
    }
    if hostname.is_some() {
        kinds.push(("uts", CloneFlags::CLONE_NEWUTS));
    }
    let mut targets = Vec::new();
    for (k, _) in &kinds {
        let p = dir.join(k);
        // Mount targets must exist; an empty regular file is what `ip netns` uses too.
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(format!("creating {}", p.display())))?;
        targets.push((k.to_string(), p));
    }
    let flags = kinds.iter().fold(CloneFlags::empty(), |a, (_, f)| a | *f);
    let hostname = hostname.map(str::to_string);
    let t = targets.clone();
    let res = std::thread::Builder::new()
        .name("podnet-unshare".into())
        .spawn(move || -> Result<(), NetError> {
            // This thread is discarded afterwards; its namespaces live on through the mounts.
            unshare(flags).map_err(|source| NetError::Sys {
                what: "unshare(net/ipc/uts) for the pod sandbox".into(),
                source,
            })?;
            if flags.contains(CloneFlags::CLONE_NEWNET) {
                loopback_up()?;
            }
            if let Some(h) = &hostname {
                nix::unistd::sethostname(h).map_err(|source| NetError::Sys {
                    what: format!("setting hostname {h:?} in the pod UTS namespace"),
                    source,
                })?;
            }
            for (k, p) in &t {
                let src = format!("/proc/thread-self/ns/{k}");
                mount(
                    Some(src.as_str()),
                    p.as_path(),
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(|source| NetError::Sys {
                    what: format!("bind-mounting {src} onto {}", p.display()),
                    source,
                })?;
            }
            Ok(())
        })
        .map_err(io_err("spawning the namespace thread"))?
        .join()
        .map_err(|_| NetError::Internal("namespace thread panicked".into()))?;
    res?;
    let find = |k: &str| targets.iter().find(|(n, _)| n == k).map(|(_, p)| p.clone());
    Ok(Made {
        net: find("net"),
        ipc: find("ipc").ok_or_else(|| NetError::Internal("no ipc namespace".into()))?,
        uts: find("uts"),
    })
}

/// Sets `lo` up in the calling thread's network namespace (a fresh one has it down).
///
/// Why not the CNI `loopback` plugin: it is one more Go process per pod, and with many pods
/// starting at once those execs dominated start-up on small machines; setting one interface
/// flag needs a single ioctl on a socket of the new namespace.
fn loopback_up() -> Result<(), NetError> {
    let sys = |what: &str| {
        let what = what.to_string();
        move |source| NetError::Sys { what, source }
    };
    // SAFETY: plain socket(2); the fd is owned (and closed) by `OwnedFd` below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(sys("socket for setting lo up")(nix::errno::Errno::last()));
    }
    // SAFETY: fd is a fresh, valid descriptor nobody else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write `req`, which lives across the calls.
    if unsafe { libc::ioctl(raw, libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(sys("reading the flags of lo")(nix::errno::Errno::last()));
    }
    // SAFETY: the union member the kernel just filled for SIOCGIFFLAGS.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above.
    if unsafe { libc::ioctl(raw, libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(sys("setting lo up in the pod network namespace")(
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// Unmounts the namespace files in `dir` and removes it (idempotent).
pub(crate) fn remove_ns_dir(dir: &Path) -> Result<(), NetError> {
    for k in ["net", "ipc", "uts"] {
        let p = dir.join(k);
        // Loop: a crash between two creates could have stacked two mounts on one file.
        for _ in 0..8 {
            if !is_nsfs(&p) {
                break;
            }
            umount2(&p, MntFlags::MNT_DETACH).map_err(|source| NetError::Sys {
                what: format!("unmounting {}", p.display()),
                source,
            })?;
        }
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(format!("removing {}", dir.display()))(e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unescapes() {
        assert_eq!(super::unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(super::unescape_mountinfo("/plain"), "/plain");
    }
}
