//! Facts about the machine the agent runs on, read from /proc and /sys: what the Node reports
//! as capacity and nodeInfo, and the node's address.

use std::net::IpAddr;
use std::path::Path;

/// Host capacity and identity, as the kubelet reads them (cadvisor's machine info).
#[derive(Clone, Debug)]
pub struct HostInfo {
    pub cpus: u32,
    pub memory_bytes: u64,
    pub ephemeral_storage_bytes: u64,
    pub kernel_version: String,
    pub os_image: String,
    pub machine_id: String,
    pub boot_id: String,
    pub system_uuid: String,
    pub architecture: String,
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `MemTotal` and `MemAvailable` from /proc/meminfo, in bytes.
pub fn meminfo() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .unwrap_or(0)
    };
    (field("MemTotal:"), field("MemAvailable:"))
}

/// Size of the filesystem holding a path, from statvfs (what the kubelet's nodefs and imagefs
/// signals and the node's ephemeral-storage capacity read). All zero when it cannot be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsUsage {
    pub bytes_total: u64,
    /// Bytes an unprivileged user may still write (f_bavail).
    pub bytes_available: u64,
    pub inodes_total: u64,
    /// Inodes an unprivileged user may still use (f_favail).
    pub inodes_available: u64,
}

/// Bytes and inodes of the filesystem holding `path`.
pub fn filesystem_usage(path: &Path) -> FsUsage {
    match nix::sys::statvfs::statvfs(path) {
        Ok(s) => {
            let frag = s.fragment_size();
            FsUsage {
                bytes_total: s.blocks() * frag,
                bytes_available: s.blocks_available() * frag,
                inodes_total: s.files(),
                inodes_available: s.files_available(),
            }
        }
        Err(_) => FsUsage::default(),
    }
}

fn os_image() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

impl HostInfo {
    /// Reads the host; `storage_dir` is where pods' writable layers and volumes live.
    pub fn read(storage_dir: &Path) -> HostInfo {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let (memory_bytes, _) = meminfo();
        let ephemeral_storage_bytes = filesystem_usage(storage_dir).bytes_total;
        let uname = nix::sys::utsname::uname().ok();
        let kernel_version = uname
            .as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let machine = uname
            .as_ref()
            .map(|u| u.machine().to_string_lossy().into_owned())
            .unwrap_or_default();
        let architecture = match machine.as_str() {
            "x86_64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            other => other.to_string(),
        };
        let machine_id = read_trim("/etc/machine-id").unwrap_or_default();
        HostInfo {
            cpus,
            memory_bytes,
            ephemeral_storage_bytes,
            kernel_version,
            os_image: os_image(),
            system_uuid: read_trim("/sys/class/dmi/id/product_uuid")
                .unwrap_or_else(|| machine_id.clone()),
            machine_id,
            boot_id: read_trim("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
            architecture,
        }
    }
}

/// The host's name, lower-cased as Kubernetes node names must be.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
        .to_lowercase()
}

/// The address of the interface carrying the default route (what the kubelet reports as
/// InternalIP), else loopback.
pub fn default_ip() -> IpAddr {
    // Connecting a UDP socket sends nothing; it only asks the kernel which source address a
    // packet to that destination would use.
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| {
        s.connect("192.0.2.1:9")?;
        s.local_addr()
    });
    match probe {
        Ok(addr) if !addr.ip().is_unspecified() => addr.ip(),
        _ => IpAddr::from([127, 0, 0, 1]),
    }
}
