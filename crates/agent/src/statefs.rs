//! Volatile state on tmpfs, as upstream keeps it under /run (containerd's /run/containerd,
//! runc's /run/runc, netns files in /run/netns).
//!
//! Pod sandboxes and the OCI runtime create and delete many small files per pod (namespace
//! mount points, sandbox records, IPAM reservations, the runtime's container state). On disk
//! each costs an inode allocation, which is slow on busy or journal-less filesystems: on the
//! 2-core test host it was about a fifth of the CPU spent starting a burst of pods. None of
//! this state outlives a reboot (the namespaces and processes it describes die with it), so
//! a tmpfs loses nothing; it survives agent restarts, which is what re-adoption needs.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::Error;

/// The agent's tmpfs mounts, relative to its data dir, with their size limits: the OCI
/// runtime's state, the container bundles (their writable layers stay on disk, in
/// runtime/layers) and the pod sandboxes.
pub const TMPFS_DIRS: [(&str, &str); 3] = [
    ("runtime/oci", "64m"),
    ("runtime/containers", "256m"),
    ("network", "64m"),
];

/// Mounts a private tmpfs on `dir` unless it is one already. A dir that already holds files
/// (state an agent kept on disk, e.g. with live pods) is left as it is, so that nothing in
/// use is hidden. Returns whether `dir` is now a tmpfs.
pub fn mount_tmpfs(dir: &Path, size: &str) -> Result<bool, Error> {
    let sys = |what: String| move |e: nix::Error| Error::Server(format!("{what}: {e}"));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Server(format!("cannot create {}: {e}", dir.display())))?;
    if is_tmpfs(dir) {
        return Ok(true);
    }
    if holds_files(dir, 4) {
        tracing::info!(dir = %dir.display(), "state kept on disk: it holds an earlier agent's files");
        return Ok(false);
    }
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(format!("mode=0755,size={size}").as_str()),
    )
    .map_err(sys(format!("cannot mount a tmpfs on {}", dir.display())))?;
    // Private: mounts made below it (namespace files, rootfs) must not propagate elsewhere.
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys(format!(
        "cannot make {} a private mount",
        dir.display()
    )))?;
    Ok(true)
}

/// Unmounts the tmpfs [`mount_tmpfs`] put on `dir`, if one is there (`minato reset`). A dir
/// that is merely inside a tmpfs (a data dir under /dev/shm, say) is left alone.
pub fn unmount_tmpfs(dir: &Path) -> Result<(), Error> {
    if dir.exists() && is_tmpfs(dir) && is_mount_point(dir) {
        umount2(dir, MntFlags::MNT_DETACH)
            .map_err(|e| Error::Server(format!("cannot unmount {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// A mount point sits on another device than its parent dir.
fn is_mount_point(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(dir), std::fs::metadata(dir.join(".."))) {
        (Ok(a), Ok(b)) => a.dev() != b.dev(),
        _ => false,
    }
}

fn is_tmpfs(dir: &Path) -> bool {
    matches!(nix::sys::statfs::statfs(dir), Ok(s) if s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}

/// True if anything but directories lies within `depth` levels below `dir`.
fn holds_files(dir: &Path, depth: u32) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| match e.file_type() {
        Ok(t) if t.is_dir() => depth == 0 || holds_files(&e.path(), depth - 1),
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_dir_trees_hold_no_files() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("a/b")).expect("mkdir");
        assert!(!holds_files(d.path(), 4));
        std::fs::write(d.path().join("a/b/f"), b"x").expect("write");
        assert!(holds_files(d.path(), 4));
        // Beyond the depth limit a tree counts as holding files, never as empty.
        assert!(holds_files(d.path(), 0));
        // A plain dir is no mount point, so reset leaves it alone.
        assert!(!is_mount_point(&d.path().join("a")));
        unmount_tmpfs(&d.path().join("a")).expect("no-op");
    }
}
