//! Driver for the OCI runtime CLI (runc, or crun when runc is absent).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cgroups::{CgroupMode, Cgroups};
use crate::RuntimeError;

#[derive(Debug, Clone)]
pub struct Runc {
    pub binary: PathBuf,
    /// `--root`: the runtime's own state dir (kept under our state dir, not /run/runc).
    pub root: PathBuf,
    pub name: String,
    pub version: String,
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

impl Runc {
    pub fn detect(
        configured: Option<&Path>,
        root: PathBuf,
        cgroups: &Cgroups,
    ) -> Result<Runc, RuntimeError> {
        let binary = match configured {
            Some(p) => {
                if !is_executable(p) {
                    return Err(RuntimeError::NoRuntime(format!(
                        "configured runtime {} is not an executable file",
                        p.display()
                    )));
                }
                p.to_path_buf()
            }
            None => find_on_path("runc").or_else(|| find_on_path("crun")).ok_or_else(|| {
                RuntimeError::NoRuntime(
                    "neither runc nor crun is on PATH; install runc (apt-get install runc) or set the runtime binary".into(),
                )
            })?,
        };
        let out = Command::new(&binary)
            .arg("--version")
            .output()
            .map_err(|e| {
                RuntimeError::NoRuntime(format!("running {} --version: {e}", binary.display()))
            })?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let first = text.lines().next().unwrap_or_default();
        // "runc version 1.1.5+ds1" / "crun version 1.8.1"
        let mut words = first.split_whitespace();
        let name = words.next().unwrap_or("unknown").to_string();
        let version = first
            .split_once("version ")
            .map(|(_, v)| v.split_whitespace().next().unwrap_or_default().to_string())
            .unwrap_or_default();
        if name == "crun" && cgroups.mode == CgroupMode::Hybrid && !cgroups.unmounted_v1.is_empty()
        {
            let missing = cgroups.unmounted_v1.join(", ");
            let first = &cgroups.unmounted_v1[0];
            return Err(RuntimeError::NoRuntime(format!(
                "crun refuses this hybrid cgroup host (\"cgroups in hybrid mode not supported\") because the v1 controller(s) {missing} are not mounted as cgroup v1. Install runc, or mount them, e.g. `mkdir -p /sys/fs/cgroup/{first} && mount -t cgroup -o {first} cgroup /sys/fs/cgroup/{first}`"
            )));
        }
        std::fs::create_dir_all(&root)
            .map_err(|e| RuntimeError::io(format!("creating {}", root.display()), e))?;
        Ok(Runc {
            binary,
            root,
            name,
            version,
        })
    }

    /// A command with the global flags set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c
    }

    fn run(&self, what: &str, args: &[&str]) -> Result<(), RuntimeError> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| RuntimeError::io(format!("running {}", self.binary.display()), e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(RuntimeError::Runc {
                binary: self.binary.display().to_string(),
                what: what.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    pub fn kill(&self, id: &str, signal: i32) -> Result<(), RuntimeError> {
        self.run("kill", &["kill", id, &signal.to_string()])
    }

    /// `delete` (with `--force` also kills a live container). A missing container is Ok.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);
        match self.run("delete", &args) {
            Ok(()) => Ok(()),
            Err(RuntimeError::Runc { stderr, .. })
                if stderr.contains("does not exist") || stderr.contains("not exist") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
