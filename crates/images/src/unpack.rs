//! Layer extraction: one layer tarball into one directory, ready to be an overlayfs lowerdir.
//!
//! We walk the tar ourselves (the `tar` crate only parses) because overlay needs whiteouts in
//! its own form and because a layer must never write outside its directory: `..` components
//! are refused, and no existing symlink is ever followed while creating entries.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ImageError;

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Opens a layer blob, decompressing by content (gzip or plain tar), whatever the media type
/// says: docker-save archives and some registries label layers loosely.
pub(crate) fn open_layer(blob: &Path) -> Result<Box<dyn Read>, ImageError> {
    let f = fs::File::open(blob).map_err(|e| crate::error::io_at(blob, "opening layer", e))?;
    let mut r = BufReader::with_capacity(256 * 1024, f);
    let head = r.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(r)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(ImageError::Unsupported {
            message: "zstd-compressed layers are not supported; push the image with gzip layers"
                .into(),
        })
    } else {
        Ok(Box::new(r))
    }
}

/// Extracts `blob` into `dest` (an empty directory) and checks that the uncompressed stream
/// hashes to `diff_id` (when given). Returns the diff id and the uncompressed size.
pub(crate) fn unpack_layer(
    blob: &Path,
    diff_id: Option<&str>,
    dest: &Path,
) -> Result<(String, u64), ImageError> {
    let reader = HashingReader {
        inner: open_layer(blob)?,
        hasher: Sha256::new(),
        count: 0,
    };
    fs::set_permissions(dest, fs::Permissions::from_mode(0o755))?;
    let mut archive = tar::Archive::new(reader);
    let mut dirs: Vec<(PathBuf, u64)> = Vec::new();
    let bad = |m: String| ImageError::Unpack { message: m };
    for entry in archive
        .entries()
        .map_err(|e| bad(format!("reading layer tar: {e}")))?
    {
        let mut entry = entry.map_err(|e| bad(format!("reading layer tar: {e}")))?;
        let raw_path = entry
            .path()
            .map_err(|e| bad(format!("invalid path in layer tar: {e}")))?
            .into_owned();
        extract_entry(&mut entry, &raw_path, dest, &mut dirs).map_err(|e| match e {
            ImageError::Unpack { message } => bad(format!("{}: {message}", raw_path.display())),
            ImageError::Io(io) => bad(format!("{}: {io}", raw_path.display())),
            other => other,
        })?;
    }
    // Directory mtimes last: creating children changed them. Deepest first.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0.components().count()));
    for (dir, mtime) in dirs {
        let t = filetime::FileTime::from_unix_time(mtime as i64, 0);
        let _ = filetime::set_symlink_file_times(&dir, t, t);
    }
    let mut reader = archive.into_inner();
    io::copy(&mut reader, &mut io::sink()).map_err(|e| bad(format!("reading layer tar: {e}")))?;
    let actual = format!("sha256:{}", hex::encode(reader.hasher.finalize()));
    if let Some(expected) = diff_id {
        if actual != expected {
            return Err(ImageError::DigestMismatch {
                message: format!(
                    "unexpected diff id {actual} for layer, expected {expected}: the layer does not match the image config"
                ),
            });
        }
    }
    Ok((actual, reader.count))
}

/// Turns a tar path into a relative path of plain components; refuses `..`.
pub(crate) fn sanitize(path: &Path) -> Result<PathBuf, ImageError> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ImageError::Unpack {
                    message: "path escapes the layer directory (\"..\")".into(),
                })
            }
        }
    }
    Ok(out)
}

/// Creates the parent directories of `rel` under `root`, refusing to pass through anything
/// that is not a real directory (a symlink here could point anywhere on the host).
fn ensure_parents(root: &Path, rel: &Path) -> Result<PathBuf, ImageError> {
    let mut p = root.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            p.push(c);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(ImageError::Unpack {
                        message: format!(
                            "parent {} is not a directory (symlinks are not followed)",
                            p.strip_prefix(root).unwrap_or(&p).display()
                        ),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&p)?;
                    fs::set_permissions(&p, fs::Permissions::from_mode(0o755))?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(root.join(rel))
}

/// Removes whatever is at `p` (never following a symlink) so a new entry can take its place.
fn clear(p: &Path, keep_dir: bool) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            if keep_dir {
                Ok(())
            } else {
                fs::remove_dir_all(p)
            }
        }
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

fn lchown(p: &Path, uid: u64, gid: u64) -> io::Result<()> {
    let c = cpath(p)?;
    // SAFETY: c is a valid NUL-terminated path.
    if unsafe { libc::lchown(c.as_ptr(), uid as libc::uid_t, gid as libc::gid_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn mknod(p: &Path, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let c = cpath(p)?;
    let dev = libc::makedev(major, minor);
    // SAFETY: c is a valid NUL-terminated path.
    if unsafe { libc::mknod(c.as_ptr(), mode as libc::mode_t, dev) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn lsetxattr(p: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let c = cpath(p)?;
    let n = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "xattr name contains NUL"))?;
    // SAFETY: valid C strings and a buffer of the given length.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn extract_entry<R: Read>(
    entry: &mut tar::Entry<R>,
    raw_path: &Path,
    root: &Path,
    dirs: &mut Vec<(PathBuf, u64)>,
) -> Result<(), ImageError> {
    let rel = sanitize(raw_path)?;
    let header = entry.header().clone();
    let kind = header.entry_type();
    let mode = header.mode().unwrap_or(0o644) & 0o7777;
    let mut uid = header.uid().unwrap_or(0);
    let mut gid = header.gid().unwrap_or(0);
    let mtime = header.mtime().unwrap_or(0);
    let mut xattrs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if let Ok(Some(pax)) = entry.pax_extensions() {
        for ext in pax.flatten() {
            let Ok(key) = ext.key() else { continue };
            match key {
                "uid" => uid = ext.value().ok().and_then(|v| v.parse().ok()).unwrap_or(uid),
                "gid" => gid = ext.value().ok().and_then(|v| v.parse().ok()).unwrap_or(gid),
                k if k.starts_with("SCHILY.xattr.") => {
                    xattrs.insert(
                        k["SCHILY.xattr.".len()..].to_string(),
                        ext.value_bytes().to_vec(),
                    );
                }
                _ => {}
            }
        }
    }

    if rel.as_os_str().is_empty() {
        // The layer root itself ("./"): take its mode and owner.
        if kind.is_dir() {
            lchown(root, uid, gid)?;
            fs::set_permissions(root, fs::Permissions::from_mode(mode))?;
            dirs.push((root.to_path_buf(), mtime));
        }
        return Ok(());
    }

    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
        let target = ensure_parents(root, &rel)?;
        let parent = target.parent().unwrap_or(root).to_path_buf();
        if name == WHITEOUT_OPAQUE {
            lsetxattr(&parent, "trusted.overlay.opaque", b"y").map_err(|e| ImageError::Unpack {
                message: format!("setting trusted.overlay.opaque (needs root): {e}"),
            })?;
        } else if hidden.starts_with(".wh.") {
            // AUFS metadata (.wh..wh.plnk, ...): meaningless for overlay.
        } else if !hidden.is_empty() {
            let w = parent.join(hidden);
            clear(&w, false)?;
            mknod(&w, libc::S_IFCHR, 0, 0).map_err(|e| ImageError::Unpack {
                message: format!("creating whiteout device (needs root): {e}"),
            })?;
        }
        return Ok(());
    }

    let target = ensure_parents(root, &rel)?;
    match kind {
        tar::EntryType::Directory => {
            clear(&target, true)?;
            if fs::symlink_metadata(&target).is_err() {
                fs::create_dir(&target)?;
            }
            dirs.push((target.clone(), mtime));
        }
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            clear(&target, false)?;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&target)?;
            io::copy(entry, &mut f)?;
        }
        tar::EntryType::Symlink => {
            let link = entry
                .link_name()
                .map_err(|e| ImageError::Unpack {
                    message: format!("invalid symlink target: {e}"),
                })?
                .ok_or_else(|| ImageError::Unpack {
                    message: "symlink without target".into(),
                })?;
            clear(&target, false)?;
            std::os::unix::fs::symlink(&link, &target)?;
        }
        tar::EntryType::Link => {
            let link = entry
                .link_name()
                .map_err(|e| ImageError::Unpack {
                    message: format!("invalid hardlink target: {e}"),
                })?
                .ok_or_else(|| ImageError::Unpack {
                    message: "hardlink without target".into(),
                })?;
            let src_rel = sanitize(&link)?;
            let src = ensure_parents(root, &src_rel)?;
            let meta = fs::symlink_metadata(&src).map_err(|e| ImageError::Unpack {
                message: format!("hardlink target {} : {e}", src_rel.display()),
            })?;
            if meta.is_dir() {
                return Err(ImageError::Unpack {
                    message: "hardlink to a directory".into(),
                });
            }
            if src != target {
                clear(&target, false)?;
                fs::hard_link(&src, &target)?;
            }
            // A hard link shares the inode: owner, mode and times are the target's.
            return Ok(());
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            clear(&target, false)?;
            let (fmt, major, minor) = match kind {
                tar::EntryType::Char => (
                    libc::S_IFCHR,
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                ),
                tar::EntryType::Block => (
                    libc::S_IFBLK,
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                ),
                _ => (libc::S_IFIFO, 0, 0),
            };
            if let Err(e) = mknod(&target, fmt | (mode & 0o777), major, minor) {
                tracing::warn!(path = %rel.display(), error = %e, "skipping device node in layer");
                return Ok(());
            }
        }
        other => {
            tracing::debug!(path = %rel.display(), kind = ?other, "skipping unsupported tar entry");
            return Ok(());
        }
    }

    lchown(&target, uid, gid)?;
    if kind != tar::EntryType::Symlink {
        // After chown, which clears setuid/setgid bits.
        fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
    }
    for (k, v) in &xattrs {
        if let Err(e) = lsetxattr(&target, k, v) {
            tracing::debug!(path = %rel.display(), xattr = k, error = %e, "could not set xattr");
        }
    }
    if kind != tar::EntryType::Directory {
        let t = filetime::FileTime::from_unix_time(mtime as i64, 0);
        let _ = filetime::set_symlink_file_times(&target, t, t);
    }
    Ok(())
}
