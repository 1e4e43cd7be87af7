//! Real namespaces, bridges and CNI plugins: needs root, iproute2, nftables, iptables,
//! util-linux (nsenter), busybox and containernetworking-plugins. Every test uses its own bridge
//! (minatot<N>), pod CIDR (10.250.<N>.0/24 or smaller), service CIDR (10.251.<N>.0/24) and state
//! dir, and a Drop guard tears everything down even when an assertion fails.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use minato_podnet::{DnsConfig, NetworkConfig, PodNetwork, PortMapping, Sandbox, SandboxSpec};

/// (number of live test networks, ip_forward value before the first one)
static FORWARD: Mutex<(usize, Option<String>)> = Mutex::new((0, None));
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

fn require_env() {
    let uid = Command::new("id").arg("-u").output().expect("run `id -u`");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "these tests create namespaces, bridges and nft rules: run them as root"
    );
    for tool in [
        "nsenter", "unshare", "umount", "busybox", "nft", "ip", "iptables", "hostname",
    ] {
        let ok = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "`{tool}` is required by the podnet tests but is not installed"
        );
    }
}

struct Env {
    net: PodNetwork,
    cfg: NetworkConfig,
    n: u8,
    tmp: Option<tempfile::TempDir>,
}

impl Env {
    fn new(n: u8) -> Env {
        Self::with_cidr(n, &format!("10.250.{n}.0/24"))
    }

    fn with_cidr(n: u8, pod_cidr: &str) -> Env {
        require_env();
        {
            let mut f = FORWARD.lock().unwrap_or_else(|e| e.into_inner());
            if f.0 == 0 {
                f.1 = std::fs::read_to_string(IP_FORWARD).ok();
            }
            f.0 += 1;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let cfg = NetworkConfig {
            state_dir: tmp.path().join("network"),
            bridge: format!("minatot{n}"),
            pod_cidr: pod_cidr.into(),
            cluster_cidr: format!("10.250.{n}.0/24"),
            service_cidr: Some(format!("10.251.{n}.0/24")),
            ..Default::default()
        };
        // Build the guard before new() so a half-done setup is torn down too.
        let mut env = Env {
            net: PodNetwork::open(cfg.clone()).expect("open network"),
            cfg: cfg.clone(),
            n,
            tmp: Some(tmp),
        };
        env.net = PodNetwork::new(cfg).expect("PodNetwork::new");
        env
    }

    fn spec(&self, name: &str) -> SandboxSpec {
        SandboxSpec {
            pod_uid: format!("uid-{}-{name}", self.n),
            pod_name: name.into(),
            namespace: "default".into(),
            hostname: name.into(),
            dns: DnsConfig {
                nameservers: vec!["10.96.0.10".into()],
                searches: vec![
                    "default.svc.cluster.local".into(),
                    "svc.cluster.local".into(),
                    "cluster.local".into(),
                ],
                options: vec!["ndots:5".into()],
            },
            ..Default::default()
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Err(e) = self.net.teardown_host() {
            eprintln!("teardown of test network {} failed: {e}", self.n);
        }
        drop(self.tmp.take());
        let mut f = FORWARD.lock().unwrap_or_else(|e| e.into_inner());
        f.0 -= 1;
        if f.0 == 0 {
            if let Some(orig) = f.1.take() {
                let _ = std::fs::write(IP_FORWARD, orig.trim());
            }
        }
    }
}

/// Kills and reaps a process we started, even on test failure.
struct ChildGuard(Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn ping_from(netns: &Path, ip: IpAddr) -> (bool, String) {
    sh(
        "nsenter",
        &[
            &format!("--net={}", netns.display()),
            "busybox",
            "ping",
            "-c1",
            "-W2",
            &ip.to_string(),
        ],
    )
}

fn netns(sb: &Sandbox) -> &Path {
    sb.netns.as_deref().expect("pod sandbox has a netns")
}

fn mountinfo_mentions(p: &Path) -> bool {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let s = p.to_string_lossy();
    mi.lines().any(|l| l.contains(s.as_ref()))
}

fn in_net(env: &Env, ip: IpAddr) -> bool {
    let pod: ipnet::IpNet = env.cfg.pod_cidr.parse().expect("cidr");
    pod.contains(&ip)
}

#[tokio::test]
async fn two_pods_talk_and_reach_the_gateway() {
    let env = Env::new(201);
    let a = env
        .net
        .create_sandbox(&env.spec("pod-a"))
        .await
        .expect("sandbox a");
    let b = env
        .net
        .create_sandbox(&env.spec("pod-b"))
        .await
        .expect("sandbox b");
    let (ia, ib) = (a.ip.expect("ip a"), b.ip.expect("ip b"));
    assert_ne!(ia, ib);
    assert!(
        in_net(&env, ia) && in_net(&env, ib),
        "{ia} {ib} not in {}",
        env.cfg.pod_cidr
    );
    assert_ne!(ia, env.net.gateway());
    assert_eq!(
        env.net.gateway(),
        "10.250.201.1".parse::<IpAddr>().expect("ip")
    );

    let (ok, out) = ping_from(netns(&a), ib);
    assert!(ok, "pod a cannot ping pod b: {out}");
    let (ok, out) = ping_from(netns(&b), ia);
    assert!(ok, "pod b cannot ping pod a: {out}");
    let (ok, out) = ping_from(netns(&a), env.net.gateway());
    assert!(ok, "pod a cannot ping the gateway: {out}");
    // loopback is up inside the pod
    let (ok, out) = ping_from(netns(&a), "127.0.0.1".parse().expect("ip"));
    assert!(ok, "lo is not up in the pod: {out}");

    // eth0 with the IP and a default route via the gateway
    let ns = format!("--net={}", netns(&a).display());
    let (_, addr) = sh("nsenter", &[&ns, "ip", "-4", "addr", "show", "dev", "eth0"]);
    assert!(addr.contains(&format!("{ia}/24")), "eth0: {addr}");
    let (_, routes) = sh("nsenter", &[&ns, "ip", "route"]);
    assert!(
        routes.contains("default via 10.250.201.1 dev eth0"),
        "routes: {routes}"
    );
}

#[tokio::test]
async fn namespaces_hostname_and_files() {
    let env = Env::new(202);
    let mut spec = env.spec("web-0");
    spec.hosts_entries = vec![
        (
            "0.0.0.0".parse().expect("ip"),
            vec!["web-0.web.default.svc.cluster.local".into()],
        ),
        (
            "192.0.2.50".parse().expect("ip"),
            vec!["foo.local".into(), "bar.local".into()],
        ),
    ];
    let sb = env.net.create_sandbox(&spec).await.expect("sandbox");
    let ip = sb.ip.expect("ip");

    let uts = sb.uts_ns.as_ref().expect("uts ns");
    let (ok, out) = sh(
        "nsenter",
        &[&format!("--uts={}", uts.display()), "hostname"],
    );
    assert!(ok, "nsenter hostname: {out}");
    assert_eq!(out.trim(), "web-0");

    let ino = |p: &Path| std::fs::metadata(p).expect("stat ns").ino();
    assert_ne!(
        ino(&sb.ipc_ns),
        ino(Path::new("/proc/self/ns/ipc")),
        "IPC ns is the host's"
    );
    assert_ne!(
        ino(netns(&sb)),
        ino(Path::new("/proc/self/ns/net")),
        "net ns is the host's"
    );
    assert_ne!(
        ino(uts),
        ino(Path::new("/proc/self/ns/uts")),
        "UTS ns is the host's"
    );
    assert!(sb
        .netns
        .as_ref()
        .expect("netns")
        .starts_with(&env.net.config().state_dir));

    let resolv = std::fs::read_to_string(&sb.resolv_conf).expect("resolv.conf");
    assert_eq!(
        resolv,
        "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
    );
    assert_eq!(
        std::fs::read_to_string(&sb.hostname_file).expect("hostname"),
        "web-0\n"
    );
    let hosts = std::fs::read_to_string(&sb.hosts_file).expect("hosts");
    assert!(
        hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"),
        "{hosts}"
    );
    assert!(
        hosts.contains(&format!(
            "\n{ip}\tweb-0.web.default.svc.cluster.local\tweb-0\n"
        )),
        "{hosts}"
    );
    assert!(
        hosts.contains("# Entries added by HostAliases.\n192.0.2.50\tfoo.local\tbar.local\n"),
        "{hosts}"
    );
    for f in [&sb.hosts_file, &sb.resolv_conf, &sb.hostname_file] {
        assert_eq!(f.parent(), Some(sb.dir.as_path()));
    }

    // Idempotent create returns the same sandbox.
    let again = env.net.create_sandbox(&spec).await.expect("create again");
    assert_eq!(again, sb);
}

#[tokio::test]
async fn host_network_sandbox() {
    let env = Env::new(203);
    let mut spec = env.spec("hostnet");
    spec.host_network = true;
    let sb = env.net.create_sandbox(&spec).await.expect("sandbox");
    assert_eq!(sb.netns, None);
    assert_eq!(sb.uts_ns, None);
    assert_eq!(sb.ip, None);
    let ino = |p: &Path| std::fs::metadata(p).expect("stat ns").ino();
    assert_ne!(ino(&sb.ipc_ns), ino(Path::new("/proc/self/ns/ipc")));
    let (_, node) = sh("hostname", &[]);
    assert_eq!(
        std::fs::read_to_string(&sb.hostname_file).expect("hostname"),
        format!("{}\n", node.trim())
    );
    let hosts = std::fs::read_to_string(&sb.hosts_file).expect("hosts");
    assert!(hosts.starts_with("# Kubernetes-managed hosts file (host network).\n"));
    env.net.remove_sandbox(&sb.pod_uid).await.expect("remove");
    assert!(!sb.ipc_ns.exists());
    assert!(!sb.dir.exists());
}

#[tokio::test]
async fn remove_releases_ip_and_mounts() {
    // /29: gateway .1, pods .2-.6 => exactly five pods fit.
    let env = Env::with_cidr(204, "10.250.204.0/29");
    let mut sbs = Vec::new();
    for i in 0..5 {
        sbs.push(
            env.net
                .create_sandbox(&env.spec(&format!("p{i}")))
                .await
                .expect("sandbox"),
        );
    }
    let full = env.net.create_sandbox(&env.spec("p5")).await;
    assert!(full.is_err(), "a sixth pod must not fit in a /29");
    // The failed create left nothing behind.
    let state = env.net.config().state_dir.clone();
    assert!(!state.join("ns").join("uid-204-p5").exists());
    assert!(!state.join("pods").join("uid-204-p5").exists());

    let victim = sbs.remove(2);
    let vip = victim.ip.expect("ip");
    let bridge_ports = || {
        let (_, out) = sh(
            "ip",
            &["-o", "link", "show", "master", &env.net.config().bridge],
        );
        out.lines().count()
    };
    assert_eq!(bridge_ports(), 5, "one veth per pod on the bridge");
    let ipam_file = state.join("ipam").join("minato").join(vip.to_string());
    assert!(
        ipam_file.exists(),
        "IPAM should record {vip} in {}",
        ipam_file.display()
    );
    env.net
        .remove_sandbox(&victim.pod_uid)
        .await
        .expect("remove");
    assert!(!ipam_file.exists(), "IP {vip} not released");
    assert_eq!(bridge_ports(), 4, "the pod's veth is gone from the bridge");
    assert!(!netns(&victim).exists());
    assert!(!victim.ipc_ns.exists());
    assert!(
        !mountinfo_mentions(&state.join("ns").join(&victim.pod_uid)),
        "mounts left"
    );
    assert!(!victim.dir.exists());
    // Idempotent.
    env.net
        .remove_sandbox(&victim.pod_uid)
        .await
        .expect("remove again");
    env.net
        .remove_sandbox("never-existed")
        .await
        .expect("remove unknown");

    let newcomer = env
        .net
        .create_sandbox(&env.spec("p6"))
        .await
        .expect("sandbox after release");
    assert_eq!(
        newcomer.ip,
        Some(vip),
        "the released IP should be handed out again"
    );
}

#[tokio::test]
async fn sandboxes_survive_a_new_pod_network() {
    let env = Env::new(205);
    let a = env
        .net
        .create_sandbox(&env.spec("keep-a"))
        .await
        .expect("a");
    let b = env
        .net
        .create_sandbox(&env.spec("keep-b"))
        .await
        .expect("b");
    let gone = env
        .net
        .create_sandbox(&env.spec("gone"))
        .await
        .expect("gone");
    env.net.remove_sandbox(&gone.pod_uid).await.expect("remove");

    // The agent restarts: a new PodNetwork on the same state dir (new() is idempotent).
    let again = PodNetwork::new(env.cfg.clone()).expect("new again");
    let mut found = again.sandboxes().expect("list");
    found.sort_by(|x, y| x.pod_uid.cmp(&y.pod_uid));
    assert_eq!(found, vec![a.clone(), b.clone()]);
    assert!(found.iter().all(Sandbox::is_live));
    // They still work.
    let (ok, out) = ping_from(netns(&a), b.ip.expect("ip"));
    assert!(ok, "re-adopted pods cannot talk: {out}");
    assert_eq!(again.sandbox(&a.pod_uid).expect("get"), Some(a.clone()));
    // Only one nft rule despite two new() calls.
    let (_, chain) = sh(
        "nft",
        &[
            "list",
            "chain",
            "inet",
            "minato-podnet",
            "forward-minatot205",
        ],
    );
    assert_eq!(chain.matches("drop").count(), 1, "{chain}");
}

#[tokio::test]
async fn host_port_reaches_pod() {
    let env = Env::new(206);
    let mut spec = env.spec("web");
    spec.port_mappings = vec![PortMapping {
        host_port: 18206,
        container_port: 8080,
        protocol: "TCP".into(),
        host_ip: None,
    }];
    let sb = env.net.create_sandbox(&spec).await.expect("sandbox");
    let www = env.tmp.as_ref().expect("tmp").path().join("www");
    std::fs::create_dir_all(&www).expect("mkdir");
    std::fs::write(www.join("index.html"), "hello from the pod\n").expect("index");
    let _httpd = ChildGuard(
        Command::new("nsenter")
            .arg(format!("--net={}", netns(&sb).display()))
            .args(["busybox", "httpd", "-f", "-p", "8080", "-h"])
            .arg(&www)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start httpd in the pod"),
    );
    let pod_ip = sb.ip.expect("ip");
    // Directly on the pod IP, then through the host port on the gateway and on loopback.
    assert_eq!(
        http_get(SocketAddr::new(pod_ip, 8080)).as_deref(),
        Ok("hello from the pod\n")
    );
    let gw = SocketAddr::new(env.net.gateway(), 18206);
    assert_eq!(
        http_get(gw).as_deref(),
        Ok("hello from the pod\n"),
        "hostPort via the gateway address"
    );
    let lo: SocketAddr = "127.0.0.1:18206".parse().expect("addr");
    assert_eq!(
        http_get(lo).as_deref(),
        Ok("hello from the pod\n"),
        "hostPort via 127.0.0.1"
    );

    // Removing the sandbox removes the DNAT: nothing answers on the host port any more.
    drop(_httpd);
    env.net.remove_sandbox(&sb.pod_uid).await.expect("remove");
    let (_, nat) = sh("iptables", &["-t", "nat", "-S"]);
    assert!(!nat.contains("18206"), "port mapping left behind:\n{nat}");
    // No other test maps host ports, so teardown must also drop portmap's shared chains.
    env.net.teardown_host().expect("teardown");
    let (_, nat) = sh("iptables", &["-t", "nat", "-S"]);
    assert!(
        !nat.contains("CNI-HOSTPORT"),
        "portmap scaffolding left behind:\n{nat}"
    );
}

/// GET / with retries (the server may still be starting); returns the body.
fn http_get(addr: SocketAddr) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = String::new();
    while Instant::now() < deadline {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                if s.write_all(b"GET / HTTP/1.0\r\n\r\n").is_ok() {
                    let mut resp = String::new();
                    let _ = s.read_to_string(&mut resp);
                    if let Some((_, body)) = resp.split_once("\r\n\r\n") {
                        return Ok(body.to_string());
                    }
                    last = format!("bad response {resp:?}");
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{addr}: {last}"))
}

#[tokio::test]
async fn safety_rules_route_and_teardown() {
    let n = 207;
    let env = Env::new(n);
    let br = format!("minatot{n}");
    let (ok, chain) = sh(
        "nft",
        &[
            "list",
            "chain",
            "inet",
            "minato-podnet",
            &format!("forward-{br}"),
        ],
    );
    assert!(ok, "nft chain missing: {chain}");
    assert!(
        chain.contains("hook forward priority filter - 1; policy accept;"),
        "{chain}"
    );
    assert!(
        chain.contains(&format!("ip saddr 10.250.{n}.0/24 oifname != \"{br}\""))
            && chain.contains("drop"),
        "{chain}"
    );
    let (_, nat) = sh("nft", &["list", "ruleset"]);
    assert!(
        !nat.contains(&format!("10.250.{n}.0/24 masquerade")),
        "{nat}"
    );
    let (_, route) = sh("ip", &["route", "show", &format!("10.251.{n}.0/24")]);
    assert!(
        route.contains(&format!("dev {br}")),
        "service route: {route}"
    );
    let (_, fwd) = sh("cat", &[IP_FORWARD]);
    assert_eq!(fwd.trim(), "1");
    let (_, addr) = sh("ip", &["-4", "addr", "show", "dev", &br]);
    assert!(
        addr.contains(&format!("10.250.{n}.1/24")),
        "bridge addr: {addr}"
    );

    let sb = env
        .net
        .create_sandbox(&env.spec("p"))
        .await
        .expect("sandbox");
    // The link is ours: no plugin runs for a pod without host ports (none masquerades), and
    // the host end of the pod's veth is on the bridge with hairpin on.
    let cfg = std::fs::read_to_string(sb.dir.join("cni-config.json")).expect("cni config");
    assert!(cfg.contains("\"plugins\": []"), "{cfg}");
    let (_, ports) = sh("ip", &["-o", "link", "show", "master", &br]);
    let veth = ports
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .next()
        .unwrap_or_else(|| panic!("no port on {br}: {ports}"));
    let (_, hairpin) = sh(
        "cat",
        &[&format!("/sys/class/net/{veth}/brport/hairpin_mode")],
    );
    assert_eq!(hairpin.trim(), "1", "hairpin on {veth}");

    // teardown_host removes sandboxes, mounts, rule, route and bridge.
    let state: PathBuf = env.net.config().state_dir.clone();
    env.net.teardown_host().expect("teardown");
    assert!(!netns(&sb).exists());
    assert!(
        !mountinfo_mentions(&state),
        "mounts left under {}",
        state.display()
    );
    let (ok, _) = sh(
        "nft",
        &[
            "list",
            "chain",
            "inet",
            "minato-podnet",
            &format!("forward-{br}"),
        ],
    );
    assert!(!ok, "nft chain left behind");
    let (_, route) = sh("ip", &["route", "show", &format!("10.251.{n}.0/24")]);
    assert!(route.trim().is_empty(), "route left: {route}");
    let (ok, _) = sh("ip", &["link", "show", "dev", &br]);
    assert!(!ok, "bridge left behind");
    // Teardown is idempotent (the guard runs it again).
    env.net.teardown_host().expect("teardown again");
}

/// The test's "outside" namespace (a file bind mount, not /run/netns, so nothing global is
/// touched) and the host end of its veth.
struct OutsideNs {
    file: PathBuf,
    host_if: String,
}
impl Drop for OutsideNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("umount").arg(&self.file).status();
    }
}

fn must(cmd: &str, args: &[&str]) {
    let (ok, out) = sh(cmd, args);
    assert!(ok, "{cmd} {}: {out}", args.join(" "));
}

fn drop_counter(chain: &str) -> u64 {
    chain
        .lines()
        .find(|l| l.contains("drop"))
        .and_then(|l| l.split("counter packets ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no drop counter in {chain}"))
}

/// The drop rule really stops forwarded pod traffic. The "outside" is a namespace this test
/// creates behind a veth (10.252.208.0/30) with a route back to the pods, so nothing can leave
/// the machine even if the rule were broken.
#[tokio::test]
async fn pod_traffic_is_not_forwarded_off_the_bridge() {
    let n = 208;
    let env = Env::new(n);
    let (host_if, out_if) = (format!("mt{n}h"), format!("mt{n}o"));
    let file = env.tmp.as_ref().expect("tmp").path().join("outside-net");
    std::fs::write(&file, "").expect("ns file");
    let out_ns = OutsideNs {
        file: file.clone(),
        host_if: host_if.clone(),
    };
    must("unshare", &[&format!("--net={}", file.display()), "true"]);
    let on = format!("--net={}", file.display());
    must(
        "ip",
        &[
            "link", "add", &host_if, "type", "veth", "peer", "name", &out_if,
        ],
    );
    must(
        "ip",
        &["link", "set", &out_if, "netns", &file.to_string_lossy()],
    );
    must(
        "ip",
        &["addr", "add", &format!("10.252.{n}.1/30"), "dev", &host_if],
    );
    must("ip", &["link", "set", &host_if, "up"]);
    must(
        "nsenter",
        &[
            &on,
            "ip",
            "addr",
            "add",
            &format!("10.252.{n}.2/30"),
            "dev",
            &out_if,
        ],
    );
    must("nsenter", &[&on, "ip", "link", "set", &out_if, "up"]);
    must(
        "nsenter",
        &[
            &on,
            "ip",
            "route",
            "add",
            &format!("10.250.{n}.0/24"),
            "via",
            &format!("10.252.{n}.1"),
        ],
    );
    let outside: IpAddr = format!("10.252.{n}.2").parse().expect("ip");
    let (ok, out) = sh("busybox", &["ping", "-c1", "-W2", &outside.to_string()]);
    assert!(ok, "host cannot reach the test's outside namespace: {out}");

    let sb = env
        .net
        .create_sandbox(&env.spec("leaky"))
        .await
        .expect("sandbox");
    let chain_name = format!("forward-minatot{n}");
    let list = || {
        sh(
            "nft",
            &["list", "chain", "inet", "minato-podnet", &chain_name],
        )
        .1
    };
    let before = drop_counter(&list());
    let (ok, out) = ping_from(netns(&sb), outside);
    assert!(!ok, "pod traffic was forwarded off the bridge: {out}");
    assert!(
        drop_counter(&list()) > before,
        "the minato drop rule did not count the packet"
    );

    // Sensitivity check: without the rule (only this test's bridge is affected, and the only
    // reachable "outside" is our namespace) the same ping goes through.
    must(
        "nft",
        &["flush", "chain", "inet", "minato-podnet", &chain_name],
    );
    let (ok, out) = ping_from(netns(&sb), outside);
    PodNetwork::new(env.cfg.clone()).expect("reinstall the rule");
    assert!(
        ok,
        "the leak test is not sensitive (ping fails even without the rule): {out}"
    );
    assert_eq!(drop_counter(&list()), 0, "rule reinstalled");
    drop(out_ns);
}
