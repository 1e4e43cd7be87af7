//! cgroup handling for v1, hybrid (v1 controllers + cgroup2 at .../unified) and pure v2 hosts.
//!
//! Hybrid hosts are driven through their v1 controllers (as runc does); the unified
//! hierarchy only matters for cleanup (runc also creates the path there).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::{Resources, RuntimeError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupMode {
    V1,
    Hybrid,
    V2,
}

/// Resource usage of a cgroup (or the node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub timestamp: Option<SystemTime>,
    /// Cumulative CPU time in nanoseconds.
    pub cpu_usage_ns: u64,
    /// usage - inactive_file (what the kubelet/cadvisor call the working set).
    pub memory_working_set_bytes: u64,
    pub memory_usage_bytes: u64,
    /// Processes and threads in the cgroup (`pids.current`; 0 where the pids controller is
    /// missing, and for the node).
    pub processes: u64,
}

/// Controllers we create pod cgroups in (v1) or enable in subtree_control (v2).
const V1_CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "pids", "cpuset"];
const V2_CONTROLLERS: &[&str] = &["cpu", "memory", "pids", "cpuset"];

#[derive(Debug, Clone)]
pub struct Cgroups {
    pub mode: CgroupMode,
    /// v1 controller (or `name=...`) -> mount point. Co-mounted controllers share a path.
    pub v1: BTreeMap<String, PathBuf>,
    /// cgroup2 mount point (v2 root, or the unified dir of a hybrid host).
    pub v2: Option<PathBuf>,
    /// On a hybrid host: controllers the cgroup2 tree offers (`cgroup.controllers` of its
    /// root), i.e. v1 controllers nobody mounted as v1. crun refuses such hosts.
    pub hybrid_v2_controllers: Vec<String>,
}

/// Files the shim reads to detect an OOM kill.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OomFiles {
    /// `memory.oom_control` (v1) or `memory.events` (v2); both have an `oom_kill N` line.
    pub file: PathBuf,
}

fn cg_err(what: impl std::fmt::Display, path: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Cgroup(format!("{what} {}: {e}", path.display()))
}

fn rel(path: &str) -> &str {
    path.trim_start_matches('/')
}

impl Cgroups {
    pub fn detect() -> Result<Cgroups, RuntimeError> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| RuntimeError::Cgroup(format!("reading /proc/self/mountinfo: {e}")))?;
        let mut v1 = BTreeMap::new();
        let mut v2 = None;
        for line in mountinfo.lines() {
            // "... mountpoint opts ... - fstype source superopts"
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let lf: Vec<&str> = left.split(' ').collect();
            let rf: Vec<&str> = right.split(' ').collect();
            let (Some(mp), Some(fstype)) = (lf.get(4), rf.first()) else {
                continue;
            };
            let mp = PathBuf::from(unescape_mount(mp));
            match *fstype {
                // Prefer the conventional location if several are mounted.
                "cgroup2" if v2.is_none() || mp.starts_with("/sys/fs/cgroup") => {
                    v2 = Some(mp);
                }
                "cgroup" => {
                    if let Some(opts) = rf.get(2) {
                        for o in opts.split(',') {
                            let known = [
                                "cpu",
                                "cpuacct",
                                "cpuset",
                                "memory",
                                "devices",
                                "freezer",
                                "net_cls",
                                "net_prio",
                                "blkio",
                                "perf_event",
                                "hugetlb",
                                "pids",
                                "rdma",
                                "misc",
                            ];
                            if known.contains(&o) || o.starts_with("name=") {
                                v1.entry(o.to_string()).or_insert_with(|| mp.clone());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let real_v1 = v1.keys().any(|k| !k.starts_with("name="));
        let mode = match (&v2, real_v1) {
            (Some(_), false) => CgroupMode::V2,
            (Some(_), true) => CgroupMode::Hybrid,
            (None, true) => CgroupMode::V1,
            (None, false) => {
                return Err(RuntimeError::Cgroup(
                    "no cgroup filesystem is mounted; mount cgroup2 at /sys/fs/cgroup".into(),
                ))
            }
        };
        if mode != CgroupMode::V2 {
            for c in ["cpu", "cpuacct", "memory"] {
                if !v1.contains_key(c) {
                    return Err(RuntimeError::Cgroup(format!(
                        "cgroup v1 host without the {c} controller mounted; mount it (mount -t cgroup -o {c} cgroup /sys/fs/cgroup/{c})"
                    )));
                }
            }
        }
        let hybrid_v2_controllers = match (&v2, mode) {
            (Some(root), CgroupMode::Hybrid) => {
                std::fs::read_to_string(root.join("cgroup.controllers"))
                    .map(|s| s.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        Ok(Cgroups {
            mode,
            v1,
            v2,
            hybrid_v2_controllers,
        })
    }

    fn uses_v2(&self) -> bool {
        self.mode == CgroupMode::V2
    }

    fn v2_root(&self) -> Result<&Path, RuntimeError> {
        self.v2
            .as_deref()
            .ok_or_else(|| RuntimeError::Cgroup("cgroup2 is not mounted".into()))
    }

    fn v1_dir(&self, controller: &str, path: &str) -> Option<PathBuf> {
        self.v1.get(controller).map(|mp| mp.join(rel(path)))
    }

    pub fn oom_files(&self, path: &str) -> Option<OomFiles> {
        if self.uses_v2() {
            self.v2.as_ref().map(|r| OomFiles {
                file: r.join(rel(path)).join("memory.events"),
            })
        } else {
            self.v1_dir("memory", path).map(|d| OomFiles {
                file: d.join("memory.oom_control"),
            })
        }
    }

    /// Creates `path` with limits. Existing cgroups get the limits updated.
    pub fn ensure(&self, path: &str, res: &Resources) -> Result<(), RuntimeError> {
        if !path.starts_with('/') || path == "/" {
            return Err(RuntimeError::Cgroup(format!(
                "cgroup path {path:?} must be absolute and not the root"
            )));
        }
        if self.uses_v2() {
            self.ensure_v2(path, res)
        } else {
            self.ensure_v1(path, res)
        }
    }

    fn ensure_v1(&self, path: &str, res: &Resources) -> Result<(), RuntimeError> {
        for c in V1_CONTROLLERS {
            let Some(mp) = self.v1.get(*c) else { continue };
            // Create level by level so cpuset dirs can inherit cpus/mems from their parent
            // (a cpuset cgroup with empty cpus cannot take tasks).
            let mut cur = mp.clone();
            for comp in rel(path).split('/').filter(|s| !s.is_empty()) {
                let parent = cur.clone();
                cur = cur.join(comp);
                if !cur.exists() {
                    std::fs::create_dir(&cur)
                        .or_else(|e| {
                            if e.kind() == std::io::ErrorKind::AlreadyExists {
                                Ok(())
                            } else {
                                Err(e)
                            }
                        })
                        .map_err(|e| cg_err("creating", &cur, e))?;
                }
                if *c == "cpuset" {
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        let mine = std::fs::read_to_string(cur.join(f)).unwrap_or_default();
                        if mine.trim().is_empty() {
                            let theirs =
                                std::fs::read_to_string(parent.join(f)).unwrap_or_default();
                            write_file(&cur.join(f), theirs.trim())?;
                        }
                    }
                }
            }
        }
        let set = |c: &str, file: &str, v: String| -> Result<(), RuntimeError> {
            match self.v1_dir(c, path) {
                Some(d) => write_file(&d.join(file), &v),
                None => Ok(()),
            }
        };
        if let Some(s) = res.cpu_shares {
            set("cpu", "cpu.shares", s.max(2).to_string())?;
        }
        if let Some(p) = res.cpu_period {
            set("cpu", "cpu.cfs_period_us", p.to_string())?;
        }
        if let Some(q) = res.cpu_quota {
            set("cpu", "cpu.cfs_quota_us", q.to_string())?;
        }
        if let Some(m) = res.memory_limit {
            let d = self.v1_dir("memory", path);
            if let Some(d) = d {
                // memsw must stay >= limit: raise the limit first when growing, else memsw.
                let memsw = d.join("memory.memsw.limit_in_bytes");
                let cur = read_u64(&d.join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
                if memsw.exists() && (m as u64) > cur {
                    write_file(&memsw, &m.to_string())?;
                    write_file(&d.join("memory.limit_in_bytes"), &m.to_string())?;
                } else {
                    write_file(&d.join("memory.limit_in_bytes"), &m.to_string())?;
                    if memsw.exists() {
                        write_file(&memsw, &m.to_string())?;
                    }
                }
            }
        }
        if let Some(p) = res.pids_limit {
            set("pids", "pids.max", pids_value(p))?;
        }
        Ok(())
    }

    fn ensure_v2(&self, path: &str, res: &Resources) -> Result<(), RuntimeError> {
        let root = self.v2_root()?;
        let dir = root.join(rel(path));
        std::fs::create_dir_all(&dir).map_err(|e| cg_err("creating", &dir, e))?;
        // Enable our controllers from the root down to the parent of the new cgroup.
        let mut cur = root.to_path_buf();
        let comps: Vec<&str> = rel(path).split('/').filter(|s| !s.is_empty()).collect();
        for comp in &comps {
            let avail = std::fs::read_to_string(cur.join("cgroup.controllers")).unwrap_or_default();
            let enabled =
                std::fs::read_to_string(cur.join("cgroup.subtree_control")).unwrap_or_default();
            let want: Vec<String> = V2_CONTROLLERS
                .iter()
                .filter(|c| avail.split_whitespace().any(|a| a == **c))
                .filter(|c| !enabled.split_whitespace().any(|a| a == **c))
                .map(|c| format!("+{c}"))
                .collect();
            if !want.is_empty() {
                write_file(&cur.join("cgroup.subtree_control"), &want.join(" "))?;
            }
            cur = cur.join(comp);
        }
        if let Some(s) = res.cpu_shares {
            write_file(&dir.join("cpu.weight"), &shares_to_weight(s).to_string())?;
        }
        if res.cpu_quota.is_some() || res.cpu_period.is_some() {
            let period = res.cpu_period.unwrap_or(100_000);
            let quota = match res.cpu_quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_string(),
            };
            write_file(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(m) = res.memory_limit {
            let v = if m > 0 { m.to_string() } else { "max".into() };
            write_file(&dir.join("memory.max"), &v)?;
            let swap = dir.join("memory.swap.max");
            if swap.exists() {
                write_file(&swap, "0")?;
            }
        }
        if let Some(p) = res.pids_limit {
            write_file(&dir.join("pids.max"), &pids_value(p))?;
        }
        Ok(())
    }

    /// Every hierarchy root (v1 mounts, deduplicated, plus cgroup2).
    fn all_roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self.v1.values().cloned().collect();
        if let Some(v2) = &self.v2 {
            roots.push(v2.clone());
        }
        roots.sort();
        roots.dedup();
        roots
    }

    /// Removes `path` (and sub-cgroups, deepest first) in every hierarchy. Retries for a few
    /// seconds while the kernel reports it busy (tasks still exiting).
    pub fn remove(&self, path: &str) -> Result<(), RuntimeError> {
        if !path.starts_with('/') || rel(path).is_empty() {
            return Err(RuntimeError::Cgroup(format!(
                "refusing to remove cgroup {path:?}: not an absolute non-root path"
            )));
        }
        for root in self.all_roots() {
            let dir = root.join(rel(path));
            if dir.exists() {
                rmdir_tree(&dir)?;
            }
        }
        Ok(())
    }

    pub fn usage(&self, path: &str) -> Result<Usage, RuntimeError> {
        let now = Some(SystemTime::now());
        if self.uses_v2() {
            let dir = self.v2_root()?.join(rel(path));
            if !dir.exists() {
                return Err(RuntimeError::Cgroup(format!(
                    "cgroup {path} does not exist"
                )));
            }
            let cpu = read_keyed(&dir.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000;
            let mem = read_u64(&dir.join("memory.current")).unwrap_or(0);
            let inactive = read_keyed(&dir.join("memory.stat"), "inactive_file").unwrap_or(0);
            Ok(Usage {
                timestamp: now,
                cpu_usage_ns: cpu,
                memory_usage_bytes: mem,
                memory_working_set_bytes: mem.saturating_sub(inactive),
                processes: read_u64(&dir.join("pids.current")).unwrap_or(0),
            })
        } else {
            let cpu_dir = self
                .v1_dir("cpuacct", path)
                .ok_or_else(|| RuntimeError::Cgroup("cpuacct controller not mounted".into()))?;
            let mem_dir = self
                .v1_dir("memory", path)
                .ok_or_else(|| RuntimeError::Cgroup("memory controller not mounted".into()))?;
            if !cpu_dir.exists() && !mem_dir.exists() {
                return Err(RuntimeError::Cgroup(format!(
                    "cgroup {path} does not exist"
                )));
            }
            let cpu = read_u64(&cpu_dir.join("cpuacct.usage")).unwrap_or(0);
            let mem = read_u64(&mem_dir.join("memory.usage_in_bytes")).unwrap_or(0);
            let inactive =
                read_keyed(&mem_dir.join("memory.stat"), "total_inactive_file").unwrap_or(0);
            let processes = self
                .v1_dir("pids", path)
                .and_then(|d| read_u64(&d.join("pids.current")))
                .unwrap_or(0);
            Ok(Usage {
                timestamp: now,
                cpu_usage_ns: cpu,
                memory_usage_bytes: mem,
                memory_working_set_bytes: mem.saturating_sub(inactive),
                processes,
            })
        }
    }
}

fn pids_value(p: i64) -> String {
    if p > 0 {
        p.to_string()
    } else {
        "max".into()
    }
}

/// The conversion runc and the kubelet use between cgroup v1 shares and v2 weight.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

fn rmdir_tree(dir: &Path) -> Result<(), RuntimeError> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path())?;
            }
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::trace!(dir = %dir.display(), error = %e, "cgroup busy, retrying");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(RuntimeError::Cgroup(format!(
                    "removing {}: {e} (processes still in it? check {}/cgroup.procs)",
                    dir.display(),
                    dir.display()
                )))
            }
        }
    }
}

fn write_file(path: &Path, v: &str) -> Result<(), RuntimeError> {
    std::fs::write(path, v).map_err(|e| cg_err(format!("writing {v:?} to"), path, e))
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads `key N` from a flat keyed file (memory.stat, cpu.stat, memory.events, oom_control).
pub fn read_keyed(path: &Path, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    s.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn unescape_mount(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Host usage: CPU from /proc/stat (all non-idle time), memory from /proc/meminfo.
pub fn node_usage() -> Result<Usage, RuntimeError> {
    let stat = std::fs::read_to_string("/proc/stat")
        .map_err(|e| RuntimeError::Other(format!("reading /proc/stat: {e}")))?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| RuntimeError::Other("/proc/stat has no cpu line".into()))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is included in user).
    let busy: u64 = [0usize, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|i| v.get(*i))
        .sum();
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    let cpu_ns = busy.saturating_mul(1_000_000_000 / hz);
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| RuntimeError::Other(format!("reading /proc/meminfo: {e}")))?;
    let kb = |key: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|l| {
                let rest = l.strip_prefix(key)?.strip_prefix(':')?;
                rest.split_whitespace().next()?.parse::<u64>().ok()
            })
            .unwrap_or(0)
            * 1024
    };
    let usage = kb("MemTotal").saturating_sub(kb("MemFree"));
    Ok(Usage {
        timestamp: Some(SystemTime::now()),
        cpu_usage_ns: cpu_ns,
        memory_usage_bytes: usage,
        memory_working_set_bytes: usage.saturating_sub(kb("Inactive(file)")),
        processes: 0,
    })
}
