//! Driver for the OCI runtime CLI (crun or runc: both take the same commands).

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

/// Why crun cannot run containers on this host, if it cannot: on a hybrid host crun refuses
/// to start ("cgroups in hybrid mode not supported") while the cgroup2 tree still offers
/// controllers, i.e. v1 controllers (typically hugetlb) that nobody mounted as v1.
pub fn crun_blocker(cgroups: &Cgroups) -> Option<String> {
    if cgroups.mode != CgroupMode::Hybrid || cgroups.hybrid_v2_controllers.is_empty() {
        return None;
    }
    let missing = cgroups.hybrid_v2_controllers.join(", ");
    let mounts: Vec<String> = cgroups
        .hybrid_v2_controllers
        .iter()
        .map(|c| {
            format!(
                "mkdir -p /sys/fs/cgroup/{c} && mount -t cgroup -o {c} cgroup /sys/fs/cgroup/{c}"
            )
        })
        .collect();
    Some(format!(
        "crun refuses this hybrid cgroup host (\"cgroups in hybrid mode not supported\") because the controller(s) {missing} sit on cgroup2 instead of being mounted as cgroup v1; use runc, or mount them: `{}`",
        mounts.join(" && ")
    ))
}

impl Runc {
    /// Picks the OCI runtime. `configured`: a path, or a bare name looked up on PATH (`runc`,
    /// `crun`). Unset: crun when it is installed and usable here (it starts a container in
    /// about half the time runc takes), else runc. Its state goes in `state_dir/oci/<name>`
    /// (the agent keeps `oci` on tmpfs, as runc's own default is /run/runc).
    pub fn detect(
        configured: Option<&Path>,
        state_dir: &Path,
        cgroups: &Cgroups,
    ) -> Result<Runc, RuntimeError> {
        let blocker = crun_blocker(cgroups);
        let binary = match configured {
            Some(p) if p.components().count() == 1 && !p.is_absolute() => {
                find_on_path(&p.to_string_lossy()).ok_or_else(|| {
                    RuntimeError::NoRuntime(format!(
                        "the configured runtime {} is not on PATH; install it (apt-get install {})",
                        p.display(),
                        p.display()
                    ))
                })?
            }
            Some(p) => {
                if !is_executable(p) {
                    return Err(RuntimeError::NoRuntime(format!(
                        "configured runtime {} is not an executable file",
                        p.display()
                    )));
                }
                p.to_path_buf()
            }
            None => {
                let crun = find_on_path("crun");
                let runc = find_on_path("runc");
                match (crun, runc) {
                    (Some(c), _) if blocker.is_none() => c,
                    (crun, Some(r)) => {
                        if let (Some(_), Some(why)) = (crun, &blocker) {
                            tracing::info!("using runc: {why}");
                        }
                        r
                    }
                    (Some(c), None) => c,
                    (None, None) => {
                        return Err(RuntimeError::NoRuntime(
                            "neither crun nor runc is on PATH; install one (apt-get install crun) or set the runtime binary".into(),
                        ))
                    }
                }
            }
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
        if name == "crun" {
            if let Some(why) = blocker {
                return Err(RuntimeError::NoRuntime(why));
            }
        }
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(RuntimeError::NoRuntime(format!(
                "{} --version did not name the runtime (it printed {first:?})",
                binary.display()
            )));
        }
        let root = state_dir.join("oci").join(&name);
        std::fs::create_dir_all(&root)
            .map_err(|e| RuntimeError::io(format!("creating {}", root.display()), e))?;
        Ok(Runc {
            binary,
            root,
            name,
            version,
        })
    }

    /// The runtime that made a container: operations on it must use the same binary and
    /// state dir even when the agent has since been configured with another runtime.
    pub fn for_container(&self, binary: PathBuf, root: PathBuf) -> Runc {
        if binary == self.binary && root == self.root {
            return self.clone();
        }
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Runc {
            binary,
            root,
            name,
            version: String::new(),
        }
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
