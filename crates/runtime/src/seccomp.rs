//! Seccomp for containers: `RuntimeDefault`, `Localhost` profiles and `Unconfined`.
//!
//! `RuntimeDefault` is minato's own profile. Upstream runtimes ship an allow-list; ours
//! allows by default and refuses (EPERM) the syscalls that reach kernel facilities a
//! container has no business with: module loading, kexec, keyrings, bpf, perf, userfaultfd,
//! clock setting, mounts and new namespaces. As in Docker's profile, a capability the
//! container was given re-allows the calls it governs (CAP_SYS_ADMIN: mounts, namespaces,
//! perf and bpf; CAP_SYS_TIME: clock setting; ...). `clone3` answers ENOSYS so libc falls
//! back to `clone`, whose namespace flags can be filtered (clone3 passes them in memory).

use std::path::PathBuf;

use oci_spec::runtime::{Capabilities, Capability, LinuxSeccomp};
use serde_json::json;

use crate::RuntimeError;

/// The seccomp profile of one container, as the pod spec asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// No filter (the Kubernetes default when no profile is set).
    #[default]
    Unconfined,
    RuntimeDefault,
    /// An OCI-format profile file (the kubelet's `<root>/seccomp/<localhostProfile>`).
    Localhost(PathBuf),
}

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// Syscalls refused unless the container holds the capability (None: always refused).
const DENIED: &[(Option<Capability>, &[&str])] = &[
    (
        None,
        &[
            "kexec_load",
            "kexec_file_load",
            "keyctl",
            "add_key",
            "request_key",
            "nfsservctl",
            "uselib",
            "userfaultfd",
            "ustat",
            "sysfs",
            "_sysctl",
            "vm86",
            "vm86old",
            "lookup_dcookie",
        ],
    ),
    (
        Some(Capability::SysAdmin),
        &[
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "umount",
            "umount2",
            "pivot_root",
            "unshare",
            "setns",
            "swapon",
            "swapoff",
            "quotactl",
            "quotactl_fd",
            "bpf",
            "perf_event_open",
            "fanotify_init",
            "name_to_handle_at",
        ],
    ),
    (Some(Capability::DacReadSearch), &["open_by_handle_at"]),
    (Some(Capability::SysBoot), &["reboot"]),
    (
        Some(Capability::SysModule),
        &[
            "init_module",
            "finit_module",
            "delete_module",
            "create_module",
            "get_kernel_syms",
            "query_module",
        ],
    ),
    (
        Some(Capability::SysTime),
        &["settimeofday", "stime", "clock_settime", "clock_adjtime"],
    ),
    (Some(Capability::SysRawio), &["iopl", "ioperm"]),
    (Some(Capability::SysPacct), &["acct"]),
    (Some(Capability::SysPtrace), &["kcmp"]),
    (Some(Capability::Syslog), &["syslog"]),
];

/// CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
/// CLONE_NEWNET.
const CLONE_NS_FLAGS: [u64; 7] = [
    0x0002_0000,
    0x0200_0000,
    0x0400_0000,
    0x0800_0000,
    0x1000_0000,
    0x2000_0000,
    0x4000_0000,
];

fn architectures() -> Vec<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "aarch64" => vec!["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        _ => Vec::new(),
    }
}

/// The OCI `linux.seccomp` for a container; None when unconfined (privileged containers are
/// always unconfined, as the kubelet and containerd run them).
pub fn linux_seccomp(
    s: &Seccomp,
    caps: &Capabilities,
    privileged: bool,
) -> Result<Option<LinuxSeccomp>, RuntimeError> {
    if privileged {
        return Ok(None);
    }
    match s {
        Seccomp::Unconfined => Ok(None),
        Seccomp::RuntimeDefault => serde_json::from_value(runtime_default(caps))
            .map(Some)
            .map_err(|e| RuntimeError::Oci(format!("seccomp profile: {e}"))),
        Seccomp::Localhost(path) => {
            let data = std::fs::read(path).map_err(|e| {
                RuntimeError::InvalidSpec(format!(
                    "cannot read the seccomp profile {}: {e}",
                    path.display()
                ))
            })?;
            serde_json::from_slice(&data).map(Some).map_err(|e| {
                RuntimeError::InvalidSpec(format!(
                    "the seccomp profile {} is not an OCI seccomp profile: {e}",
                    path.display()
                ))
            })
        }
    }
}

fn runtime_default(caps: &Capabilities) -> serde_json::Value {
    let mut syscalls = Vec::new();
    let mut denied: Vec<&str> = Vec::new();
    for (cap, names) in DENIED {
        if cap.is_none_or(|c| !caps.contains(&c)) {
            denied.extend_from_slice(names);
        }
    }
    syscalls.push(json!({ "names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM }));
    if !caps.contains(&Capability::SysAdmin) {
        syscalls
            .push(json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS }));
        for flag in CLONE_NS_FLAGS {
            syscalls.push(json!({
                "names": ["clone"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": EPERM,
                "args": [{ "index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ" }],
            }));
        }
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": architectures(),
        "syscalls": syscalls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &LinuxSeccomp) -> Vec<String> {
        p.syscalls()
            .iter()
            .flatten()
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn capabilities_reallow_what_they_govern() {
        let none = Capabilities::new();
        let p = linux_seccomp(&Seccomp::RuntimeDefault, &none, false)
            .expect("profile")
            .expect("some");
        let n = names(&p);
        for s in ["mount", "unshare", "keyctl", "reboot", "clone3", "clone"] {
            assert!(n.iter().any(|x| x == s), "{s} refused");
        }
        let admin: Capabilities = [Capability::SysAdmin].into_iter().collect();
        let p = linux_seccomp(&Seccomp::RuntimeDefault, &admin, false)
            .expect("profile")
            .expect("some");
        let n = names(&p);
        assert!(!n.iter().any(|x| x == "mount" || x == "clone"), "{n:?}");
        assert!(n.iter().any(|x| x == "keyctl"));
    }

    #[test]
    fn privileged_and_unconfined_get_no_filter() {
        let none = Capabilities::new();
        assert!(linux_seccomp(&Seccomp::RuntimeDefault, &none, true)
            .expect("ok")
            .is_none());
        assert!(linux_seccomp(&Seccomp::Unconfined, &none, false)
            .expect("ok")
            .is_none());
        let err = linux_seccomp(
            &Seccomp::Localhost("/no/such/profile.json".into()),
            &none,
            false,
        )
        .expect_err("missing file");
        assert!(err.to_string().contains("/no/such/profile.json"), "{err}");
    }
}
