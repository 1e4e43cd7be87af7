//! The OCI runtime config (config.json) for a container, close to containerd's CRI defaults.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder,
    LinuxDeviceCgroupBuilder, LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount as OciMount, MountBuilder,
    PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};

use crate::{ContainerSpec, MountKind, RuntimeError};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// containerd's default capability set for CRI containers.
pub const DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every capability by number (index = capability number).
const ALL_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// containerd's default masked and read-only paths.
const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn oci<E: std::fmt::Display>(e: E) -> RuntimeError {
    RuntimeError::Oci(e.to_string())
}

fn parse_cap(name: &str) -> Result<Capability, RuntimeError> {
    // oci-spec's Deserialize accepts both "NET_ADMIN" and "CAP_NET_ADMIN".
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| RuntimeError::InvalidSpec(format!("unknown capability {name:?}")))
}

/// Capabilities the running kernel knows (per /proc/sys/kernel/cap_last_cap).
fn all_caps() -> Vec<&'static str> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL_CAPS.len() - 1);
    ALL_CAPS.iter().take(last + 1).copied().collect()
}

fn norm_cap(s: &str) -> String {
    let u = s.trim().to_ascii_uppercase();
    u.strip_prefix("CAP_").unwrap_or(&u).to_string()
}

/// The capability set: default (or all if privileged), plus adds, minus drops; "ALL" works
/// in both lists (drop ALL then add X gives exactly X, as in the kubelet/containerd).
pub fn capabilities(spec: &ContainerSpec) -> Result<Capabilities, RuntimeError> {
    let mut set: Vec<String> = if spec.privileged {
        all_caps().iter().map(|s| s.to_string()).collect()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if !spec.privileged {
        let drops: Vec<String> = spec.capabilities_drop.iter().map(|c| norm_cap(c)).collect();
        if drops.iter().any(|d| d == "ALL") {
            set.clear();
        } else {
            set.retain(|c| !drops.contains(c));
        }
        for a in &spec.capabilities_add {
            let a = norm_cap(a);
            if a == "ALL" {
                set = all_caps().iter().map(|s| s.to_string()).collect();
            } else if !set.contains(&a) {
                set.push(a);
            }
        }
    }
    set.iter().map(|c| parse_cap(c)).collect()
}

fn mount(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Result<OciMount, RuntimeError> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(src)
        .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(oci)
}

fn ns(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace, RuntimeError> {
    let b = LinuxNamespaceBuilder::default().typ(typ);
    match path {
        Some(p) => b.path(p).build(),
        None => b.build(),
    }
    .map_err(oci)
}

/// Builds the OCI config for `spec` with `rootfs` as root.
pub fn build_spec(spec: &ContainerSpec, rootfs: &Path) -> Result<Spec, RuntimeError> {
    // Process
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !spec.env.iter().any(|(k, _)| k == "PATH") {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    let uts_private = spec.namespaces.uts.is_none() && !spec.namespaces.host_network;
    if let (Some(h), true) = (&spec.hostname, uts_private) {
        if !spec.env.iter().any(|(k, _)| k == "HOSTNAME") {
            env.push(format!("HOSTNAME={h}"));
        }
    }
    if spec.tty && !spec.env.iter().any(|(k, _)| k == "TERM") {
        env.push("TERM=xterm".into());
    }
    let user = spec.user.clone().unwrap_or_default();
    let mut ub = UserBuilder::default().uid(user.uid).gid(user.gid);
    if !user.additional_gids.is_empty() {
        ub = ub.additional_gids(user.additional_gids.clone());
    }
    let caps = capabilities(spec)?;
    let seccomp = crate::seccomp::linux_seccomp(&spec.seccomp, &caps, spec.privileged)?;
    let linux_caps = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(oci)?;
    let cwd = if spec.cwd.is_empty() {
        "/"
    } else {
        spec.cwd.as_str()
    };
    let process = ProcessBuilder::default()
        .terminal(spec.tty)
        .user(ub.build().map_err(oci)?)
        .args(spec.args.clone())
        .env(env)
        .cwd(cwd)
        .capabilities(linux_caps)
        .rlimits(vec![PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .hard(1024u64)
            .soft(1024u64)
            .build()
            .map_err(oci)?])
        .no_new_privileges(false)
        .build()
        .map_err(oci)?;

    // Mounts: standard ones, then the caller's (which may replace /dev/shm).
    let caller_shm = spec.mounts.iter().any(|m| m.destination == "/dev/shm");
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
    ];
    if !caller_shm {
        mounts.push(mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?);
    }
    let sys_mode = if spec.privileged { "rw" } else { "ro" };
    mounts.push(mount(
        "/sys",
        "sysfs",
        "sysfs",
        &["nosuid", "noexec", "nodev", sys_mode],
    )?);
    mounts.push(mount(
        "/sys/fs/cgroup",
        "cgroup",
        "cgroup",
        &["nosuid", "noexec", "nodev", "relatime", sys_mode],
    )?);
    for m in &spec.mounts {
        if !m.destination.starts_with('/') {
            return Err(RuntimeError::InvalidSpec(format!(
                "mount destination {:?} must be absolute",
                m.destination
            )));
        }
        let mut opts: Vec<String> = Vec::new();
        let om = match &m.kind {
            MountKind::Bind => {
                opts.extend(["rbind".to_string(), "rprivate".to_string()]);
                if m.readonly {
                    opts.push("ro".into());
                }
                MountBuilder::default()
                    .destination(&m.destination)
                    .typ("bind")
                    .source(&m.source)
                    .options(opts)
                    .build()
                    .map_err(oci)?
            }
            MountKind::Tmpfs { size } => {
                opts.extend(["nosuid".to_string(), "nodev".to_string()]);
                if m.destination == "/dev/shm" {
                    opts.push("noexec".into());
                    opts.push("mode=1777".into());
                }
                if let Some(sz) = size {
                    opts.push(format!("size={sz}"));
                }
                if m.readonly {
                    opts.push("ro".into());
                }
                MountBuilder::default()
                    .destination(&m.destination)
                    .typ("tmpfs")
                    .source("tmpfs")
                    .options(opts)
                    .build()
                    .map_err(oci)?
            }
        };
        mounts.push(om);
    }

    // Namespaces
    let n = &spec.namespaces;
    let mut namespaces = vec![ns(LinuxNamespaceType::Mount, None)?];
    if !n.host_pid {
        namespaces.push(ns(LinuxNamespaceType::Pid, n.pid.as_deref())?);
    }
    if !n.host_network {
        namespaces.push(ns(LinuxNamespaceType::Network, n.network.as_deref())?);
        namespaces.push(ns(LinuxNamespaceType::Uts, n.uts.as_deref())?);
    }
    if !n.host_ipc {
        namespaces.push(ns(LinuxNamespaceType::Ipc, n.ipc.as_deref())?);
    }

    // Resources
    let r = &spec.resources;
    let mut cpu = LinuxCpuBuilder::default();
    if let Some(s) = r.cpu_shares {
        cpu = cpu.shares(s);
    }
    if let Some(q) = r.cpu_quota {
        cpu = cpu.quota(q);
    }
    if let Some(p) = r.cpu_period {
        cpu = cpu.period(p);
    }
    let mut resources = LinuxResourcesBuilder::default()
        .cpu(cpu.build().map_err(oci)?)
        .devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(spec.privileged)
            .access("rwm")
            .build()
            .map_err(oci)?]);
    if let Some(m) = r.memory_limit.filter(|m| *m > 0) {
        let mut mem = LinuxMemoryBuilder::default().limit(m);
        if swap_supported() {
            // Kubernetes semantics: no swap, i.e. memory+swap == memory.
            mem = mem.swap(m);
        }
        resources = resources.memory(mem.build().map_err(oci)?);
    }
    if let Some(p) = r.pids_limit {
        resources = resources.pids(LinuxPidsBuilder::default().limit(p).build().map_err(oci)?);
    }

    let mut linux = LinuxBuilder::default()
        .cgroups_path(spec.cgroup_path.clone())
        .namespaces(namespaces)
        .resources(resources.build().map_err(oci)?);
    // Privileged containers get neither masked nor read-only paths.
    let list = |l: &[&str]| -> Vec<String> {
        if spec.privileged {
            Vec::new()
        } else {
            l.iter().map(|s| s.to_string()).collect()
        }
    };
    linux = linux
        .masked_paths(list(MASKED_PATHS))
        .readonly_paths(list(READONLY_PATHS));
    if let Some(s) = seccomp {
        linux = linux.seccomp(s);
    }
    if !spec.sysctls.is_empty() {
        linux = linux.sysctl(spec.sysctls.clone());
    }

    let sb = SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(rootfs)
                .readonly(spec.readonly_rootfs)
                .build()
                .map_err(oci)?,
        )
        .process(process)
        .mounts(mounts)
        .linux(linux.build().map_err(oci)?);
    let sb = match (&spec.hostname, uts_private) {
        (Some(h), true) => sb.hostname(h.clone()),
        _ => sb,
    };
    let mut out = sb.build().map_err(oci)?;
    // The builder fills unset fields from Spec::default() (hostname "youki", ...): clear them.
    if !(spec.hostname.is_some() && uts_private) {
        out.set_hostname(None);
    }
    out.set_annotations(None);
    Ok(out)
}

/// Whether the memory controller accounts swap (memsw on v1, swap.max on v2); runc fails
/// when asked to set swap where it cannot.
fn swap_supported() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        || Path::new("/sys/fs/cgroup/memory.swap.max").exists()
        || std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .map(|s| s.contains("memory"))
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(s: &ContainerSpec) -> Vec<String> {
        let mut v: Vec<String> = capabilities(s)
            .unwrap()
            .iter()
            .map(|c| {
                serde_json::to_value(c)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn capability_sets() {
        let mut s = ContainerSpec::default();
        assert_eq!(caps(&s).len(), DEFAULT_CAPS.len());
        s.capabilities_drop = vec!["ALL".into()];
        s.capabilities_add = vec!["NET_ADMIN".into(), "CAP_SYS_TIME".into()];
        assert_eq!(caps(&s), vec!["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
        s.capabilities_drop = vec!["KILL".into()];
        s.capabilities_add = vec![];
        assert!(!caps(&s).contains(&"CAP_KILL".to_string()));
        s.privileged = true;
        assert!(caps(&s).contains(&"CAP_SYS_ADMIN".to_string()));
    }

    #[test]
    fn spec_namespaces_and_privileged() {
        let s = ContainerSpec {
            args: vec!["true".into()],
            cgroup_path: "/minato/x".into(),
            hostname: Some("h".into()),
            namespaces: crate::Namespaces {
                network: Some("/var/run/netns/a".into()),
                pid: Some("/proc/7/ns/pid".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let v = serde_json::to_value(build_spec(&s, Path::new("/r")).unwrap()).unwrap();
        assert_eq!(v["hostname"], "h");
        assert_eq!(v["linux"]["cgroupsPath"], "/minato/x");
        let ns = v["linux"]["namespaces"].as_array().unwrap();
        assert!(ns
            .iter()
            .any(|n| n["type"] == "network" && n["path"] == "/var/run/netns/a"));
        assert!(ns
            .iter()
            .any(|n| n["type"] == "pid" && n["path"] == "/proc/7/ns/pid"));
        assert!(!v["linux"]["maskedPaths"].as_array().unwrap().is_empty());
        let p = ContainerSpec {
            privileged: true,
            namespaces: crate::Namespaces {
                host_network: true,
                ..Default::default()
            },
            ..s
        };
        let v = serde_json::to_value(build_spec(&p, Path::new("/r")).unwrap()).unwrap();
        assert!(v.get("hostname").is_none());
        assert!(v["linux"]["maskedPaths"].as_array().unwrap().is_empty());
        let ns = v["linux"]["namespaces"].as_array().unwrap();
        assert!(!ns
            .iter()
            .any(|n| n["type"] == "network" || n["type"] == "uts"));
    }
}
