//! Container root filesystems: overlayfs of the image layers, or a copy when overlay is
//! unavailable (whiteouts applied while copying).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::{IoContext, RuntimeError};

/// Marker file telling teardown which kind of rootfs a bundle has.
const COPY_MARKER: &str = "rootfs.copied";

/// Builds the container's root filesystem from `layers` (lowest first) and returns its
/// path: an overlay mounted on `<bundle>/rootfs` whose upper and work dirs are in `rw`, or,
/// where overlay is unavailable, a copy in `<rw>/rootfs`. `rw` holds everything the container
/// writes, so it belongs on disk even when the bundle is on tmpfs.
pub fn prepare(layers: &[PathBuf], bundle: &Path, rw: &Path) -> Result<PathBuf, RuntimeError> {
    let rootfs = bundle.join("rootfs");
    let upper = rw.join("upper");
    let work = rw.join("work");
    for d in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(d).ctx(|| format!("creating {}", d.display()))?;
    }
    for l in layers {
        if !l.is_dir() {
            return Err(RuntimeError::InvalidSpec(format!(
                "image layer {} is not a directory",
                l.display()
            )));
        }
    }
    // overlay needs at least one lower dir; an empty image gets an empty one.
    let mut lowers: Vec<PathBuf> = layers.iter().rev().cloned().collect();
    if lowers.is_empty() {
        let empty = bundle.join("empty-lower");
        std::fs::create_dir_all(&empty).ctx(|| format!("creating {}", empty.display()))?;
        lowers.push(empty);
    }
    let lowerdir = lowers
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let opts = format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    let res = if lowers
        .iter()
        .any(|p| p.as_os_str().as_bytes().contains(&b','))
    {
        Err(nix::errno::Errno::EINVAL)
    } else {
        mount(
            Some("overlay"),
            &rootfs,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
    };
    match res {
        Ok(()) => Ok(rootfs),
        Err(e) => {
            tracing::info!(bundle = %bundle.display(), error = %e, "overlay mount failed; copying layers instead");
            std::fs::write(bundle.join(COPY_MARKER), b"")
                .ctx(|| format!("writing {}", bundle.join(COPY_MARKER).display()))?;
            let copy = rw.join("rootfs");
            std::fs::create_dir_all(&copy).ctx(|| format!("creating {}", copy.display()))?;
            for l in layers {
                copy_layer(l, &copy)?;
            }
            Ok(copy)
        }
    }
}

/// True if `path` is a mount point (listed in our mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.display().to_string();
    mi.lines()
        .any(|l| l.split(' ').nth(4).map(|m| m == want).unwrap_or(false))
}

/// Unmounts `<bundle>/rootfs` if mounted (lazily if busy).
pub fn teardown(bundle: &Path) -> Result<(), RuntimeError> {
    let rootfs = bundle.join("rootfs");
    while is_mounted(&rootfs) {
        match umount2(&rootfs, MntFlags::empty()) {
            Ok(()) => {}
            Err(nix::errno::Errno::EBUSY) => {
                umount2(&rootfs, MntFlags::MNT_DETACH).map_err(|e| {
                    RuntimeError::Other(format!("unmounting {}: {e}", rootfs.display()))
                })?;
            }
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
            Err(e) => {
                return Err(RuntimeError::Other(format!(
                    "unmounting {}: {e}",
                    rootfs.display()
                )))
            }
        }
    }
    Ok(())
}

fn is_whiteout(md: &std::fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: valid NUL-terminated strings and a buffer of the length we pass.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

/// Removes a file or a whole tree; a missing path is fine.
pub(crate) fn remove_any(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Copies one layer onto `dst`, applying overlay-style whiteouts (0:0 char devices and
/// opaque dirs) and tar-style `.wh.` files.
pub fn copy_layer(src: &Path, dst: &Path) -> Result<(), RuntimeError> {
    if src.join(".wh..wh..opq").exists() {
        // tar-style opaque marker: hide what lower layers put in this dir (before copying
        // this layer's own entries).
        if let Ok(rd) = std::fs::read_dir(dst) {
            for x in rd.flatten() {
                remove_any(&x.path()).ctx(|| format!("whiteout {}", x.path().display()))?;
            }
        }
    }
    let entries = std::fs::read_dir(src).ctx(|| format!("reading {}", src.display()))?;
    for e in entries {
        let e = e.ctx(|| format!("reading {}", src.display()))?;
        let name = e.file_name();
        let sp = e.path();
        let md = std::fs::symlink_metadata(&sp).ctx(|| format!("stat {}", sp.display()))?;
        let name_b = name.as_bytes();
        if name_b == b".wh..wh..opq" {
            continue;
        }
        if let Some(target) = name_b.strip_prefix(b".wh.") {
            let tp = dst.join(std::ffi::OsStr::from_bytes(target));
            remove_any(&tp).ctx(|| format!("whiteout {}", tp.display()))?;
            continue;
        }
        let dp = dst.join(&name);
        if is_whiteout(&md) {
            remove_any(&dp).ctx(|| format!("whiteout {}", dp.display()))?;
            continue;
        }
        let ft = md.file_type();
        if ft.is_dir() {
            let existing = std::fs::symlink_metadata(&dp).ok();
            if is_opaque(&sp) || existing.as_ref().map(|m| !m.is_dir()).unwrap_or(false) {
                remove_any(&dp).ctx(|| format!("replacing {}", dp.display()))?;
            }
            if !dp.exists() {
                std::fs::create_dir(&dp).ctx(|| format!("creating {}", dp.display()))?;
            }
            copy_layer(&sp, &dp)?;
            set_owner_mode(&dp, &md)?;
            continue;
        }
        remove_any(&dp).ctx(|| format!("replacing {}", dp.display()))?;
        if ft.is_symlink() {
            let t = std::fs::read_link(&sp).ctx(|| format!("readlink {}", sp.display()))?;
            std::os::unix::fs::symlink(&t, &dp).ctx(|| format!("symlink {}", dp.display()))?;
            std::os::unix::fs::lchown(&dp, Some(md.uid()), Some(md.gid()))
                .ctx(|| format!("chown {}", dp.display()))?;
        } else if ft.is_file() {
            std::fs::copy(&sp, &dp).ctx(|| format!("copying {}", sp.display()))?;
            set_owner_mode(&dp, &md)?;
        } else {
            // Device nodes, fifos, sockets: recreate the node.
            let c = CString::new(dp.as_os_str().as_bytes())
                .map_err(|_| RuntimeError::Other(format!("bad path {}", dp.display())))?;
            // SAFETY: valid NUL-terminated path.
            let r = unsafe { libc::mknod(c.as_ptr(), md.mode(), md.rdev()) };
            if r != 0 {
                return Err(RuntimeError::io(
                    format!("mknod {}", dp.display()),
                    std::io::Error::last_os_error(),
                ));
            }
            set_owner_mode(&dp, &md)?;
        }
    }
    Ok(())
}

fn set_owner_mode(p: &Path, md: &std::fs::Metadata) -> Result<(), RuntimeError> {
    std::os::unix::fs::lchown(p, Some(md.uid()), Some(md.gid()))
        .ctx(|| format!("chown {}", p.display()))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(md.mode() & 0o7777))
        .ctx(|| format!("chmod {}", p.display()))
}
