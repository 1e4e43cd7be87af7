//! Pod sandboxes and the pod network of a minato node.
//!
//! A sandbox is what the kubelet's "pause" container provides upstream: persistent network, IPC
//! and UTS namespaces that every container of the pod joins by path. Here they are plain
//! namespace files bind-mounted under `state_dir/ns/<pod-uid>/`, so they survive agent restarts
//! and containers can join them with `linux.namespaces[].path` in their OCI config.
//!
//! # The pod's link: rtnetlink in-process; host ports: the standard CNI plugins
//!
//! Each pod gets a veth pair, made over rtnetlink in-process ([`link`]): the host end on the
//! bridge with hairpin mode, `eth0` in the pod's namespace with an address from the node's
//! range ([`ipam`], in `host-local`'s on-disk format) and a default route via the bridge. That
//! is what the CNI `bridge` + `host-local` plugins did before; as exec'd Go programs they cost
//! about 12 ms of CPU per pod, a fifth of all the CPU a burst of 50 pods needed on a 2-core
//! node. `lo` is set up in-process too (one ioctl; see `ns::loopback_up`).
//!
//! Host ports still go through the reference `portmap` plugin, and the `firewall` plugin runs
//! where the iptables FORWARD policy drops (Debian package `containernetworking-plugins`, in
//! `/usr/lib/cni`), exec'd exactly as the CNI spec says (`CNI_COMMAND`/`CNI_CONTAINERID`/
//! `CNI_NETNS`/`CNI_IFNAME`/`CNI_PATH` in the environment, the network configuration as JSON
//! on stdin with our link as `prevResult`, the result as JSON on stdout, `DEL` on teardown),
//! and only for the pods that need them. Sandboxes an older agent made with the `bridge`
//! plugin are still torn down through it (their stored conflist names it).
//!
//! # Safety on the host
//!
//! Pod traffic must never be routed off the machine. [`PodNetwork::new`] installs an nftables
//! chain in table `inet minato-podnet` (one chain per bridge, hooked on `forward` just before
//! the standard filter priority, so it runs before Docker's iptables-nft rules) that drops every
//! forwarded packet whose source is in the cluster CIDR and whose output interface is not the
//! pod bridge. The bridge config never enables `ipMasq`, and the service CIDR is routed onto the
//! bridge, so service VIP traffic stays local until the service proxy DNATs it.
//! A consequence: pods cannot reach other nodes or the outside world until a deliberate,
//! separately reviewed route/overlay exists.
//!
//! # Host ports
//!
//! The `portmap` plugin (v1.1 in Debian 12) programs iptables (iptables-nft here) DNAT rules
//! for traffic *to local addresses*: a hostPort is reachable from the node on any of its
//! addresses (the bridge gateway address included) and from other machines on the node's
//! address. `127.0.0.1:hostPort` works too because portmap (with `snat: true`, the default)
//! sets `route_localnet` on the bridge and masquerades such connections; the tests check the
//! gateway address and loopback.

mod cni;
mod files;
mod host;
mod ipam;
mod link;
mod ns;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

/// Everything that can go wrong while setting up or tearing down pod networking.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(
        "CNI plugin `{plugin}` not found in {dirs}: install the Debian package \
         `containernetworking-plugins` (or put the reference CNI plugins in /opt/cni/bin)"
    )]
    PluginMissing { plugin: String, dirs: String },
    #[error("required command `{tool}` not found in PATH: install the `{package}` package")]
    ToolMissing { tool: String, package: String },
    #[error("invalid network configuration: {0}")]
    Config(String),
    #[error("invalid sandbox request: {0}")]
    Spec(String),
    #[error("CNI {command} of plugin `{plugin}` failed for pod {pod_uid}: {msg}")]
    Cni {
        command: String,
        plugin: String,
        pod_uid: String,
        msg: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
    #[error("command `{cmd}` failed: {msg}")]
    Command { cmd: String, msg: String },
    #[error("internal error: {0}")]
    Internal(String),
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Io { what, source }
}

/// Node-wide pod network settings.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// e.g. `<data-dir>/agent/network`: namespace bind mounts, IPAM state, cached CNI results.
    pub state_dir: PathBuf,
    /// Where the CNI plugins live; searched in order.
    pub cni_bin_dirs: Vec<PathBuf>,
    /// Name of the Linux bridge the pods attach to.
    pub bridge: String,
    /// This node's pod CIDR, e.g. "10.244.0.0/24"; the gateway is its first address, on the bridge.
    pub pod_cidr: String,
    /// The whole cluster's pod range, e.g. "10.244.0.0/16".
    pub cluster_cidr: String,
    /// Service VIP range, e.g. "10.96.0.0/12": routed onto the bridge, never out.
    pub service_cidr: Option<String>,
    pub mtu: Option<u32>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            state_dir: PathBuf::from("/var/lib/minato/agent/network"),
            cni_bin_dirs: vec![PathBuf::from("/usr/lib/cni"), PathBuf::from("/opt/cni/bin")],
            bridge: "minato0".into(),
            pod_cidr: "10.244.0.0/24".into(),
            cluster_cidr: "10.244.0.0/16".into(),
            service_cidr: Some("10.96.0.0/12".into()),
            mtu: None,
        }
    }
}

/// One hostPort mapping of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// "TCP", "UDP" or "SCTP" (case-insensitive; empty means TCP as in the Pod API).
    pub protocol: String,
    pub host_ip: Option<IpAddr>,
}

/// What goes into the pod's /etc/resolv.conf (already resolved from the pod's dnsPolicy).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsConfig {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// A request to create a pod sandbox.
#[derive(Clone, Debug, Default)]
pub struct SandboxSpec {
    pub pod_uid: String,
    pub pod_name: String,
    pub namespace: String,
    /// Pod name or spec.hostname; truncated to 63 characters as upstream does.
    pub hostname: String,
    pub host_network: bool,
    pub port_mappings: Vec<PortMapping>,
    pub dns: DnsConfig,
    /// Extra /etc/hosts lines (hostAliases, the pod's own FQDN). An entry whose address is
    /// unspecified (`0.0.0.0` or `::`) means "the pod's IP": its names are put on the pod's own
    /// line (before the hostname, as upstream writes `IP  fqdn  hostname`), because the caller
    /// cannot know the IP before the sandbox exists. For hostNetwork pods such entries are dropped.
    pub hosts_entries: Vec<(IpAddr, Vec<String>)>,
}

/// A created pod sandbox, as recorded on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    pub pod_uid: String,
    /// Per-pod dir holding the hosts, resolv.conf and hostname files.
    pub dir: PathBuf,
    /// Network namespace file; None for hostNetwork pods.
    pub netns: Option<PathBuf>,
    pub ipc_ns: PathBuf,
    /// None for hostNetwork pods (they share the host's UTS namespace, as upstream).
    pub uts_ns: Option<PathBuf>,
    /// Pod IP; None for hostNetwork pods (the caller uses the node IP).
    pub ip: Option<IpAddr>,
    pub hosts_file: PathBuf,
    pub resolv_conf: PathBuf,
    pub hostname_file: PathBuf,
}

/// The node's pod network. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct PodNetwork {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: NetworkConfig,
    pod_net: IpNet,
    cluster_net: IpNet,
    service_net: Option<IpNet>,
    gateway: IpAddr,
    cni: cni::Runner,
    ipam: ipam::Ipam,
    /// Per-pod locks so create/remove of one pod never interleave; different pods run in parallel.
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// Name of the CNI network (host-local keeps allocations in `state_dir/ipam/<name>/`).
const NETWORK_NAME: &str = "minato";
const CNI_VERSION: &str = "1.0.0";
const IFNAME: &str = "eth0";
/// In a sandbox's dir: the name of the host end of its veth pair.
const HOST_VETH_FILE: &str = "host-veth";

impl PodNetwork {
    /// Checks the plugins exist (clear error naming the package otherwise), enables IPv4
    /// forwarding, creates the bridge with the gateway address, routes the service CIDR onto it
    /// and installs the nftables safety chain. Idempotent: safe to call on every agent start.
    pub fn new(cfg: NetworkConfig) -> Result<PodNetwork, NetError> {
        let net = Self::open(cfg)?;
        net.inner.cni.check_plugins(&["portmap", "firewall"])?;
        host::require_tool("nft", "nftables")?;
        host::require_tool("ip", "iproute2")?;
        // portmap programs iptables (nft backend on Debian 12).
        host::require_tool("iptables", "iptables")?;
        let i = &net.inner;
        for d in ["ns", "pods", "ipam"] {
            let p = i.cfg.state_dir.join(d);
            std::fs::create_dir_all(&p).map_err(io_err(format!("creating {}", p.display())))?;
        }
        ns::make_private_mount(&i.cfg.state_dir.join("ns"))?;
        let _g = host::HOST_LOCK.write().unwrap_or_else(|e| e.into_inner());
        host::enable_forwarding(i.pod_net)?;
        host::ensure_bridge(&i.cfg.bridge, i.gateway, i.pod_net.prefix_len(), i.cfg.mtu)?;
        host::install_nft(&i.cfg.bridge, i.cluster_net)?;
        if let Some(svc) = i.service_net {
            host::route_replace(svc, &i.cfg.bridge)?;
        }
        info!(bridge = %i.cfg.bridge, pod_cidr = %i.pod_net, gateway = %i.gateway, "pod network ready");
        Ok(net)
    }

    /// Validates the config and opens the state dir without touching the host (no bridge, no
    /// rules). Enough for [`PodNetwork::sandboxes`] and [`PodNetwork::teardown_host`] (e.g. from
    /// `minato uninstall`).
    pub fn open(mut cfg: NetworkConfig) -> Result<PodNetwork, NetError> {
        let parse = |what: &str, s: &str| -> Result<IpNet, NetError> {
            s.trim().parse::<IpNet>().map_err(|e| {
                NetError::Config(format!(
                    "{what} {s:?} is not a CIDR like 10.244.0.0/24: {e}"
                ))
            })
        };
        let pod_net = parse("pod CIDR", &cfg.pod_cidr)?.trunc();
        let cluster_net = parse("cluster CIDR", &cfg.cluster_cidr)?.trunc();
        let service_net = match &cfg.service_cidr {
            Some(s) if !s.trim().is_empty() => Some(parse("service CIDR", s)?.trunc()),
            _ => None,
        };
        if !cluster_net.contains(&pod_net) {
            return Err(NetError::Config(format!(
                "pod CIDR {pod_net} is not inside the cluster CIDR {cluster_net}"
            )));
        }
        if let Some(svc) = service_net {
            if svc.contains(&pod_net.network()) || pod_net.contains(&svc.network()) {
                return Err(NetError::Config(format!(
                    "service CIDR {svc} overlaps the pod CIDR {pod_net}"
                )));
            }
        }
        if pod_net.hosts().nth(2).is_none() {
            return Err(NetError::Config(format!(
                "pod CIDR {pod_net} is too small (needs room for a gateway and pods)"
            )));
        }
        // The bridge and the nft chain are named after it: keep it a plain interface name.
        let b = &cfg.bridge;
        if b.is_empty()
            || b.len() > 15
            || !b
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(NetError::Config(format!(
                "bridge name {b:?} must be 1-15 characters of [A-Za-z0-9_-]"
            )));
        }
        let gateway = pod_net
            .hosts()
            .next()
            .ok_or_else(|| NetError::Config(format!("pod CIDR {pod_net} has no host addresses")))?;
        if !cfg.state_dir.is_absolute() {
            return Err(NetError::Config(format!(
                "state dir {} must be an absolute path",
                cfg.state_dir.display()
            )));
        }
        std::fs::create_dir_all(&cfg.state_dir)
            .map_err(io_err(format!("creating {}", cfg.state_dir.display())))?;
        cfg.state_dir = cfg
            .state_dir
            .canonicalize()
            .map_err(io_err(format!("resolving {}", cfg.state_dir.display())))?;
        let cni = cni::Runner::new(cfg.cni_bin_dirs.clone());
        let ipam = ipam::Ipam::new(
            cfg.state_dir.join("ipam").join(NETWORK_NAME),
            pod_net,
            gateway,
        );
        Ok(PodNetwork {
            inner: Arc::new(Inner {
                cfg,
                pod_net,
                cluster_net,
                service_net,
                gateway,
                cni,
                ipam,
                locks: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The bridge address: the node's address as seen from pods.
    pub fn gateway(&self) -> IpAddr {
        self.inner.gateway
    }

    /// The (canonicalized) configuration in use.
    pub fn config(&self) -> &NetworkConfig {
        &self.inner.cfg
    }

    /// Creates a pod sandbox (see the crate docs). Idempotent per pod UID: if a healthy
    /// sandbox already exists it is returned unchanged; a half-made one is replaced.
    pub async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<Sandbox, NetError> {
        let this = self.clone();
        let spec = spec.clone();
        tokio::task::spawn_blocking(move || this.create_blocking(&spec))
            .await
            .map_err(|e| NetError::Internal(format!("sandbox task failed: {e}")))?
    }

    /// Idempotent: CNI DEL (releases the IP and the port mappings), unmounts and removes the
    /// namespaces and the per-pod dir. Unknown UIDs are not an error.
    pub async fn remove_sandbox(&self, pod_uid: &str) -> Result<(), NetError> {
        let this = self.clone();
        let uid = pod_uid.to_string();
        tokio::task::spawn_blocking(move || this.remove_blocking(&uid))
            .await
            .map_err(|e| NetError::Internal(format!("sandbox task failed: {e}")))?
    }

    /// Sandboxes found on disk (for the agent to re-adopt after a restart). Check
    /// [`Sandbox::is_live`]: after a reboot the records survive but the namespaces do not.
    pub fn sandboxes(&self) -> Result<Vec<Sandbox>, NetError> {
        let dir = self.pods_dir();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(format!("listing {}", dir.display()))(e)),
        };
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.map_err(io_err(format!("listing {}", dir.display())))?;
            let Some(uid) = ent.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Some(sb) = self.read_record(&uid)? {
                out.push(sb);
            }
        }
        out.sort_by(|a, b| a.pod_uid.cmp(&b.pod_uid));
        Ok(out)
    }

    /// The recorded sandbox of one pod, if any.
    pub fn sandbox(&self, pod_uid: &str) -> Result<Option<Sandbox>, NetError> {
        validate_uid(pod_uid)?;
        self.read_record(pod_uid)
    }

    /// Removes everything this network put on the host: all sandboxes (CNI DEL + unmount), the
    /// namespace mount, the nftables chain (and the table once empty), the service route, the
    /// bridge, and the portmap/firewall plugins' shared CNI-* iptables chains once unused.
    /// Used by tests and `minato uninstall`. IPv4 forwarding is left as it is
    /// (other software, e.g. Docker, relies on it too).
    pub fn teardown_host(&self) -> Result<(), NetError> {
        let mut first_err = None;
        match self.sandboxes() {
            Ok(list) => {
                for sb in list {
                    if let Err(e) = self.remove_blocking(&sb.pod_uid) {
                        warn!(pod_uid = %sb.pod_uid, error = %e, "removing sandbox during teardown");
                        first_err.get_or_insert(e);
                    }
                }
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
        // Half-made sandboxes have namespace dirs but no record.
        let ns_root = self.inner.cfg.state_dir.join("ns");
        if let Ok(rd) = std::fs::read_dir(&ns_root) {
            for ent in rd.flatten() {
                if let Err(e) = ns::remove_ns_dir(&ent.path()) {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Err(e) = ns::unmount_dir(&ns_root) {
            first_err.get_or_insert(e);
        }
        let i = &self.inner;
        let _g = host::HOST_LOCK.write().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = host::cleanup_cni_iptables() {
            first_err.get_or_insert(e);
        }
        if let Some(svc) = i.service_net {
            if let Err(e) = host::route_delete(svc, &i.cfg.bridge) {
                first_err.get_or_insert(e);
            }
        }
        if let Err(e) = host::remove_nft(&i.cfg.bridge) {
            first_err.get_or_insert(e);
        }
        if let Err(e) = host::delete_link(&i.cfg.bridge) {
            first_err.get_or_insert(e);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn pods_dir(&self) -> PathBuf {
        self.inner.cfg.state_dir.join("pods")
    }

    fn pod_dir(&self, uid: &str) -> PathBuf {
        self.pods_dir().join(uid)
    }

    fn ns_dir(&self, uid: &str) -> PathBuf {
        self.inner.cfg.state_dir.join("ns").join(uid)
    }

    fn read_record(&self, uid: &str) -> Result<Option<Sandbox>, NetError> {
        let p = self.pod_dir(uid).join("sandbox.json");
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
                NetError::Internal(format!("corrupt sandbox record {}: {e}", p.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(format!("reading {}", p.display()))(e)),
        }
    }

    fn lock_pod(&self, uid: &str) -> Arc<Mutex<()>> {
        let mut m = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(uid.to_string()).or_default().clone()
    }

    fn unlock_pod(&self, uid: &str, lock: Arc<Mutex<()>>) {
        let mut m = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map and our handle left: nobody waits on it, drop the entry.
        if Arc::strong_count(&lock) == 2 {
            m.remove(uid);
        }
    }

    fn create_blocking(&self, spec: &SandboxSpec) -> Result<Sandbox, NetError> {
        validate_uid(&spec.pod_uid)?;
        let lock = self.lock_pod(&spec.pod_uid);
        let res = {
            let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
            self.create_locked(spec)
        };
        self.unlock_pod(&spec.pod_uid, lock);
        res
    }

    fn create_locked(&self, spec: &SandboxSpec) -> Result<Sandbox, NetError> {
        let uid = &spec.pod_uid;
        if let Some(sb) = self.read_record(uid)? {
            if sandbox_healthy(&sb) {
                debug!(pod_uid = %uid, "sandbox exists");
                return Ok(sb);
            }
            warn!(pod_uid = %uid, "sandbox on disk is incomplete; recreating it");
            self.remove_locked(uid)?;
        } else if self.pod_dir(uid).exists() || self.ns_dir(uid).exists() {
            // Leftovers of a create that died half-way (e.g. agent crash): clean them first.
            self.remove_locked(uid)?;
        }
        match self.build(spec) {
            Ok(sb) => Ok(sb),
            Err(e) => {
                if let Err(e2) = self.remove_locked(uid) {
                    warn!(pod_uid = %uid, error = %e2, "cleaning up a failed sandbox");
                }
                Err(e)
            }
        }
    }

    fn build(&self, spec: &SandboxSpec) -> Result<Sandbox, NetError> {
        let uid = &spec.pod_uid;
        // Start-up latency is watched closely: the debug log below splits it by phase.
        let t0 = std::time::Instant::now();
        let pod_dir = self.pod_dir(uid);
        std::fs::create_dir_all(&pod_dir)
            .map_err(io_err(format!("creating {}", pod_dir.display())))?;
        let hostname = files::pod_hostname(&spec.hostname, &spec.pod_name)?;
        let ns_dir = self.ns_dir(uid);
        let made = ns::create_namespaces(
            &ns_dir,
            !spec.host_network,
            (!spec.host_network).then_some(hostname.as_str()),
        )?;

        let ns_took = t0.elapsed();
        let mut ip = None;
        if let Some(netns) = &made.net {
            let _h = host::HOST_LOCK.read().unwrap_or_else(|e| e.into_inner());
            let netns_s = netns.to_string_lossy().into_owned();
            // `lo` is already up: set in the namespace thread (see `ns::loopback_up`).
            let list = self.network_list(&spec.port_mappings)?;
            // Stored before anything is made: DEL must see the same port mappings (portmap only
            // removes what its DEL config lists) even if ADD fails half-way.
            write_json(&pod_dir.join("cni-config.json"), &list)?;
            let i = &self.inner;
            let pod_ip = i.ipam.allocate(uid, IFNAME)?;
            let host_if = self.create_link(uid, netns)?;
            link::configure_pod_side(netns, IFNAME, pod_ip, i.pod_net.prefix_len(), i.gateway)?;
            // What the bridge plugin would have returned: portmap and firewall chain on it.
            let link_result = serde_json::json!({
                "cniVersion": CNI_VERSION,
                "interfaces": [
                    { "name": i.cfg.bridge },
                    { "name": host_if },
                    { "name": IFNAME, "sandbox": netns_s },
                ],
                "ips": [{
                    "address": format!("{pod_ip}/{}", i.pod_net.prefix_len()),
                    "gateway": i.gateway.to_string(),
                    "interface": 2,
                }],
                "routes": [{ "dst": default_route(pod_ip), "gw": i.gateway.to_string() }],
            });
            let result = if list["plugins"].as_array().is_some_and(|p| !p.is_empty()) {
                let args = self.cni_args(spec);
                i.cni
                    .add_list(&list, uid, &netns_s, IFNAME, &args, link_result)?
            } else {
                link_result
            };
            write_json(&pod_dir.join("cni-result.json"), &result)?;
            ip = Some(pod_ip);
        }

        let hosts_file = pod_dir.join("hosts");
        let resolv_conf = pod_dir.join("resolv.conf");
        let hostname_file = pod_dir.join("hostname");
        let file_hostname = if spec.host_network {
            files::node_hostname()?
        } else {
            hostname.clone()
        };
        files::write_file(
            &hosts_file,
            &files::hosts_content(spec.host_network, ip, &hostname, &spec.hosts_entries)?,
        )?;
        files::write_file(&resolv_conf, &files::resolv_content(&spec.dns))?;
        files::write_file(&hostname_file, &format!("{file_hostname}\n"))?;

        let sb = Sandbox {
            pod_uid: uid.clone(),
            dir: pod_dir.clone(),
            netns: made.net,
            ipc_ns: made.ipc,
            uts_ns: made.uts,
            ip,
            hosts_file,
            resolv_conf,
            hostname_file,
        };
        // Written last: a record on disk means a complete sandbox.
        write_json(&pod_dir.join("sandbox.json"), &sb)?;
        debug!(
            pod_uid = %uid,
            ip = ?sb.ip,
            namespaces_ms = ns_took.as_millis() as u64,
            total_ms = t0.elapsed().as_millis() as u64,
            "sandbox created"
        );
        Ok(sb)
    }

    fn remove_blocking(&self, uid: &str) -> Result<(), NetError> {
        validate_uid(uid)?;
        let lock = self.lock_pod(uid);
        let res = {
            let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
            self.remove_locked(uid)
        };
        self.unlock_pod(uid, lock);
        res
    }

    fn remove_locked(&self, uid: &str) -> Result<(), NetError> {
        let pod_dir = self.pod_dir(uid);
        let ns_dir = self.ns_dir(uid);
        let cfg_path = pod_dir.join("cni-config.json");
        if cfg_path.exists() {
            let list = read_json(&cfg_path)?;
            let prev = read_json(&pod_dir.join("cni-result.json")).ok();
            let netns = ns_dir.join("net");
            // Without the netns the plugins still release the IP and the port rules.
            let netns_s = if ns::is_nsfs(&netns) {
                netns.to_string_lossy().into_owned()
            } else {
                String::new()
            };
            let args =
                format!("IgnoreUnknown=1;K8S_POD_UID={uid};K8S_POD_INFRA_CONTAINER_ID={uid}");
            // On failure keep the state so a retry can DEL again (never leak the IP).
            let _h = host::HOST_LOCK.read().unwrap_or_else(|e| e.into_inner());
            self.inner
                .cni
                .del_list(&list, prev.as_ref(), uid, &netns_s, IFNAME, &args)?;
        }
        // The link and the address (a no-op for sandboxes an older agent made with the bridge
        // plugin: its DEL above released them). The pair dies with the namespace too, but the
        // namespace may outlive this call in a container's mount table.
        let marker = self.pod_dir(uid).join(HOST_VETH_FILE);
        if let Ok(name) = std::fs::read_to_string(&marker) {
            link::delete_link(name.trim())?;
        }
        self.inner.ipam.release(uid)?;
        if cfg_path.exists() {
            std::fs::remove_file(&cfg_path)
                .map_err(io_err(format!("removing {}", cfg_path.display())))?;
        }
        ns::remove_ns_dir(&ns_dir)?;
        match std::fs::remove_dir_all(&pod_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("removing {}", pod_dir.display()))(e)),
        }
        debug!(pod_uid = %uid, "sandbox removed");
        Ok(())
    }

    /// Makes the pod's veth pair and records the host end's name in the pod dir (teardown
    /// deletes only a link recorded there). The name comes from the pod UID; if another pod's
    /// link already has it (a hash collision), a salted one is tried.
    fn create_link(&self, uid: &str, netns: &Path) -> Result<String, NetError> {
        let i = &self.inner;
        let mut last_err = None;
        for attempt in 0..4 {
            let seed = if attempt == 0 {
                uid.to_string()
            } else {
                format!("{uid}#{attempt}")
            };
            let name = link::host_veth_name(&seed);
            match link::create_veth(&name, IFNAME, netns, &i.cfg.bridge, i.cfg.mtu) {
                Ok(()) => {
                    files::write_file(&self.pod_dir(uid).join(HOST_VETH_FILE), &name)?;
                    return Ok(name);
                }
                Err(NetError::Sys {
                    source: nix::errno::Errno::EEXIST,
                    what,
                }) => {
                    last_err = Some(NetError::Sys {
                        source: nix::errno::Errno::EEXIST,
                        what,
                    })
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| NetError::Internal("no veth name left".into())))
    }

    fn cni_args(&self, spec: &SandboxSpec) -> String {
        format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
            spec.namespace, spec.pod_name, spec.pod_uid, spec.pod_uid
        )
    }

    /// The conflist chained after our link: portmap with this pod's port mappings as its
    /// runtimeConfig (we are the runtime, so we inject it directly) and the iptables firewall
    /// where the FORWARD policy drops; often no plugin at all.
    fn network_list(&self, ports: &[PortMapping]) -> Result<serde_json::Value, NetError> {
        let mut maps = Vec::new();
        for p in ports {
            let proto = match p.protocol.to_ascii_lowercase().as_str() {
                "" | "tcp" => "tcp",
                "udp" => "udp",
                "sctp" => "sctp",
                other => {
                    return Err(NetError::Spec(format!(
                        "unsupported port protocol {other:?} (use TCP, UDP or SCTP)"
                    )))
                }
            };
            if p.host_port == 0 || p.container_port == 0 {
                return Err(NetError::Spec(format!(
                    "port mapping {p:?} needs non-zero host and container ports"
                )));
            }
            let mut m = serde_json::json!({
                "hostPort": p.host_port, "containerPort": p.container_port, "protocol": proto,
            });
            if let Some(h) = p.host_ip {
                if !h.is_unspecified() {
                    m["hostIP"] = serde_json::json!(h.to_string());
                }
            }
            maps.push(m);
        }
        // Each plugin is a process (and iptables calls serialize on its lock): with 50 pods
        // starting at once that dominates start-up, so run only the plugins a pod needs. The
        // link itself is ours (see `link`).
        let mut plugins = Vec::new();
        if !maps.is_empty() {
            plugins.push(serde_json::json!({
                "type": "portmap",
                "capabilities": { "portMappings": true },
                "snat": true,
                "runtimeConfig": { "portMappings": maps },
            }));
        }
        if host::forward_policy_drops() {
            // Accepts the pod's traffic in iptables' FORWARD chain when its policy is DROP (as
            // Docker sets it), which would otherwise cut pod<->pod (br_netfilter) and service
            // traffic. It cannot re-open what our nft chain drops (a drop is final).
            plugins.push(serde_json::json!({ "type": "firewall", "backend": "iptables" }));
        }
        Ok(serde_json::json!({
            "cniVersion": CNI_VERSION,
            "name": NETWORK_NAME,
            "plugins": plugins,
        }))
    }
}

impl Sandbox {
    /// True while its namespaces are still mounted and its files exist. False after a reboot
    /// (mounts are gone): the agent should then `remove_sandbox` (releases the IP) and recreate.
    pub fn is_live(&self) -> bool {
        sandbox_healthy(self)
    }
}

fn sandbox_healthy(sb: &Sandbox) -> bool {
    ns::is_nsfs(&sb.ipc_ns)
        && sb.netns.as_deref().is_none_or(ns::is_nsfs)
        && sb.uts_ns.as_deref().is_none_or(ns::is_nsfs)
        && sb.hosts_file.exists()
        && sb.resolv_conf.exists()
        && sb.hostname_file.exists()
}

fn default_route(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "0.0.0.0/0"
    } else {
        "::/0"
    }
}

/// Pod UIDs become directory names: refuse anything that could escape the state dir.
fn validate_uid(uid: &str) -> Result<(), NetError> {
    let ok = !uid.is_empty()
        && uid.len() <= 128
        && uid != "."
        && uid != ".."
        && uid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(NetError::Spec(format!(
            "pod UID {uid:?} must be 1-128 characters of [A-Za-z0-9._-]"
        )))
    }
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<(), NetError> {
    let b = serde_json::to_vec_pretty(v)
        .map_err(|e| NetError::Internal(format!("encoding {}: {e}", path.display())))?;
    files::write_atomic(path, &b)
}

fn read_json(path: &Path) -> Result<serde_json::Value, NetError> {
    let b = std::fs::read(path).map_err(io_err(format!("reading {}", path.display())))?;
    serde_json::from_slice(&b)
        .map_err(|e| NetError::Internal(format!("corrupt JSON in {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cfg = |pod: &str, cluster: &str, svc: Option<&str>| NetworkConfig {
            state_dir: tmp.path().join("net"),
            pod_cidr: pod.into(),
            cluster_cidr: cluster.into(),
            service_cidr: svc.map(str::to_string),
            ..Default::default()
        };
        let n = PodNetwork::open(cfg("10.244.3.0/24", "10.244.0.0/16", Some("10.96.0.0/12")))
            .expect("valid config");
        assert_eq!(n.gateway(), "10.244.3.1".parse::<IpAddr>().expect("ip"));
        assert!(PodNetwork::open(cfg("10.245.0.0/24", "10.244.0.0/16", None)).is_err());
        assert!(
            PodNetwork::open(cfg("10.96.0.0/24", "10.96.0.0/16", Some("10.96.0.0/12"))).is_err()
        );
        assert!(PodNetwork::open(cfg("nonsense", "10.244.0.0/16", None)).is_err());
        assert!(PodNetwork::open(cfg("10.244.0.0/31", "10.244.0.0/16", None)).is_err());
    }

    #[test]
    fn uid_validation() {
        assert!(validate_uid("0d3c5b7e-1f2a-4c3b-9d8e-7f6a5b4c3d2e").is_ok());
        assert!(validate_uid("../etc").is_err());
        assert!(validate_uid("..").is_err());
        assert!(validate_uid("").is_err());
        assert!(validate_uid("a/b").is_err());
    }
}
