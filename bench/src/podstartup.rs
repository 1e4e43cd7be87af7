//! `podstartup`: 50 pods started at once on one node agent (real containers), with `podman kube
//! play` of the same pods as the same-run baseline. The agent runs as a `minato agent` process
//! that joins the server by URL and token, so its own RSS and CPU are measured apart
//! (`--embedded-agent`: inside the server process, as plain `minato server` runs it).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::task::JoinSet;

use crate::server::{cpu_time, proc_status_bytes, Server};
use crate::stats::{mb, ms, Section, Summary};
use crate::workloads::{wait_default_sa, wait_nodes_ready, PodTracker};
use crate::{say, Args, Target};

const BRIDGE: &str = "mbench0";
const CLUSTER_CIDR: &str = "10.230.0.0/16";
const SERVICE_CIDR: &str = "10.231.0.0/16";
const CGROUP_ROOT: &str = "/minato-bench";
const NODE: &str = "minato-bench-node";
const IMAGE: &str = "localhost/busybox:1.0";
const PODMAN_NET: &str = "minatobench";
const PODMAN_SUBNET: &str = "10.89.0.0/24";
const POD_PREFIX: &str = "mbench-";

fn run(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {what} (is it installed?)"))?;
    if !out.status.success() {
        // The last lines say why; podman repeats one line per container before them.
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.contains("failed to connect to syslog"))
            .collect();
        bail!(
            "{what} failed ({}): {}",
            out.status,
            lines[lines.len().saturating_sub(4)..].join(" | ")
        );
    }
    Ok(out)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A busybox image built offline from busybox-static (as the e2e tests build it): an OCI
/// layout made with umoci, copied by skopeo into a docker-archive named `localhost/busybox:1.0`.
fn busybox_archive(dir: &Path) -> Result<PathBuf> {
    let rootfs = dir.join("rootfs");
    // The skeleton of Docker Hub's busybox image, as images users pull have one: the runtime
    // then finds /proc, /dev, /sys and /etc instead of creating them in every container.
    for d in [
        "bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "var",
    ] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .context("no /bin/busybox (apt-get install busybox-static)")?;
    for applet in ["sh", "sleep", "cat", "echo", "ls", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))?;
    }
    let l = dir.join("oci").display().to_string();
    let image = format!("{l}:1.0");
    let umoci = |args: &[&str]| run(Command::new("umoci").args(args), "umoci");
    umoci(&["init", "--layout", &l])?;
    umoci(&["new", "--image", &image])?;
    umoci(&[
        "insert",
        "--image",
        &image,
        &rootfs.display().to_string(),
        "/",
    ])?;
    umoci(&[
        "config",
        "--image",
        &image,
        "--config.cmd",
        "sh",
        "--config.env",
        "PATH=/bin",
    ])?;
    let archive = dir.join("busybox.tar");
    run(
        Command::new("skopeo")
            .args(["copy", "-q"])
            .arg(format!("oci:{image}"))
            .arg(format!("docker-archive:{}:{IMAGE}", archive.display())),
        "skopeo copy",
    )?;
    Ok(archive)
}

/// Stops the server (SIGKILL by PID) and runs `minato reset` for its agent, also on failure;
/// the data dir (owned by the caller) must outlive this.
struct AgentGuard {
    /// A separate `minato agent` process, stopped before the server.
    agent: Option<std::process::Child>,
    server: Option<Server>,
    bin: PathBuf,
    reset_args: Vec<String>,
    reset_done: bool,
}

impl AgentGuard {
    fn reset(&mut self) -> Result<()> {
        if let Some(mut a) = self.agent.take() {
            let _ = a.kill();
            let _ = a.wait();
        }
        if let Some(s) = self.server.take() {
            s.kill();
        }
        if self.reset_done {
            return Ok(());
        }
        self.reset_done = true;
        run(
            Command::new(&self.bin).args(&self.reset_args),
            "minato reset",
        )?;
        Ok(())
    }
}

impl Drop for AgentGuard {
    fn drop(&mut self) {
        if let Err(e) = self.reset() {
            say(&format!("podstartup cleanup: {e:#}"));
        }
    }
}

fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "minato-bench".to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some(IMAGE.into()),
                image_pull_policy: Some("Never".into()),
                command: Some(vec!["sleep".into(), "3600".into()]),
                ..Default::default()
            }],
            termination_grace_period_seconds: Some(0),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Proportional set size (shared pages split among their users) from smaps_rollup, in bytes.
fn pss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Pss:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<u64>().ok())
            })
        })
        .unwrap_or(0)
        * 1024
}

/// RSS and PSS of this server's container shims (`minato shim --bundle DATA/...`), and how many.
fn shims_rss(data_dir: &Path) -> (usize, u64, u64) {
    let (mut n, mut rss, mut pss) = (0, 0, 0);
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return (0, 0, 0);
    };
    let want = data_dir.display().to_string();
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.get(1).map(String::as_str) == Some("shim")
            && args.iter().any(|a| a.starts_with(&want))
        {
            n += 1;
            rss += proc_status_bytes(pid, "VmRSS").unwrap_or(0);
            pss += pss_bytes(pid);
        }
    }
    (n, rss, pss)
}

pub async fn podstartup(args: &Args) -> Result<Section> {
    let bin = args
        .minato_bin
        .clone()
        .context("podstartup needs --minato-bin (it starts a server with its node agent)")?;
    if !is_root() {
        bail!("podstartup needs root (the node agent creates a bridge, cgroups and mounts)");
    }
    if Path::new("/sys/class/net").join(BRIDGE).exists() {
        bail!(
            "bridge {BRIDGE} exists already (an earlier run?); remove it with \
             `minato reset --data-dir DIR --bridge {BRIDGE} --cgroup-root {CGROUP_ROOT} \
             --cluster-cidr {CLUSTER_CIDR} --service-cidr {SERVICE_CIDR}` or `ip link del {BRIDGE}`"
        );
    }
    // Declared first so it is removed last: after the server is killed and reset has run.
    let work = tempfile::Builder::new()
        .prefix("minato-bench-pods-")
        .tempdir()?;
    let archive = busybox_archive(&work.path().join("img"))?;
    let agent_dir = work.path().join("data").join("agent");
    let mut guard = AgentGuard {
        agent: None,
        server: None,
        bin: bin.clone(),
        reset_args: [
            "reset",
            "--data-dir",
            &agent_dir.display().to_string(),
            "--bridge",
            BRIDGE,
            "--cgroup-root",
            CGROUP_ROOT,
            "--cluster-cidr",
            CLUSTER_CIDR,
            "--service-cidr",
            SERVICE_CIDR,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        reset_done: false,
    };
    run(
        Command::new(&bin)
            .arg("images")
            .arg("--data-dir")
            .arg(&agent_dir)
            .arg("import")
            .arg(&archive),
        "minato images import",
    )?;
    let no_registries = work.path().join("no-registries.yaml");
    let extra: Vec<String> = [
        "--kubelet-port",
        "0",
        "--bridge",
        BRIDGE,
        "--cluster-cidr",
        CLUSTER_CIDR,
        "--service-cidr",
        SERVICE_CIDR,
        "--cgroup-root",
        CGROUP_ROOT,
        "--node-name",
        NODE,
        "--registries",
        &no_registries.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = if args.embedded_agent {
        Server::launch_with(&bin, Some(work.path()), &extra).await?
    } else {
        // The server allocates the node's pod range and Service IPs from the same ranges.
        let server_args = [
            "--no-agent",
            "--cluster-cidr",
            CLUSTER_CIDR,
            "--service-cidr",
            SERVICE_CIDR,
        ];
        Server::launch_with(&bin, Some(work.path()), &server_args).await?
    };
    let (pid, kubeconfig, data_dir) = (
        server.pid,
        server.kubeconfig.clone(),
        server.data_dir.clone(),
    );
    guard.server = Some(server);
    let agent_log = work.path().join("agent.log");
    if !args.embedded_agent {
        guard.agent = Some(spawn_agent(
            &bin,
            &data_dir,
            &kubeconfig,
            &extra,
            &agent_log,
        )?);
    }
    let agent_pid = guard.agent.as_ref().map(std::process::Child::id);
    let mut sec = measure_minato(args, pid, agent_pid, &kubeconfig, &data_dir)
        .await
        .map_err(|e| {
            let mut log = guard
                .server
                .as_ref()
                .map(Server::log_tail)
                .unwrap_or_default();
            if agent_pid.is_some() {
                let text = std::fs::read_to_string(&agent_log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                log.push_str("\nagent log tail:\n");
                log.push_str(&lines[lines.len().saturating_sub(20)..].join("\n"));
            }
            e.context(format!("server log tail:\n{log}"))
        })?;
    match guard.reset() {
        Ok(()) => sec.line("cleanup: server killed, `minato reset` ok"),
        Err(e) => sec.line(format!("cleanup FAILED: {e:#}")),
    }
    drop(guard);
    drop(work);
    Ok(sec)
}

/// Starts `minato agent` joining the server by its URL (from the admin kubeconfig) and its
/// join token, as a node on another machine would.
fn spawn_agent(
    bin: &Path,
    data_dir: &Path,
    kubeconfig: &Path,
    node_args: &[String],
    log: &Path,
) -> Result<std::process::Child> {
    let kc = std::fs::read_to_string(kubeconfig)
        .with_context(|| format!("cannot read {}", kubeconfig.display()))?;
    let url = kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .context("the admin kubeconfig names no server")?
        .to_string();
    let token_file = data_dir.join("node-token");
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("cannot read {}", token_file.display()))?;
    Command::new(bin)
        .args(["agent", "--server", &url, "--data-dir"])
        .arg(data_dir.join("agent"))
        .args(node_args)
        .env("MINATO_TOKEN", token.trim())
        .env("MINATO_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .with_context(|| format!("cannot start {} agent", bin.display()))
}

/// RSS now, and CPU use over `window`, of several processes at once.
async fn sample_all(pids: &[u32], window: Duration) -> Result<Vec<(u64, f64)>> {
    let c0 = pids
        .iter()
        .map(|p| cpu_time(*p))
        .collect::<Result<Vec<_>>>()?;
    let t0 = Instant::now();
    tokio::time::sleep(window).await;
    let secs = t0.elapsed().as_secs_f64();
    pids.iter()
        .zip(c0)
        .map(|(p, c0)| {
            let pct = (cpu_time(*p)? - c0).as_secs_f64() / secs * 100.0;
            Ok((proc_status_bytes(*p, "VmRSS")?, pct))
        })
        .collect()
}

async fn measure_minato(
    args: &Args,
    pid: u32,
    agent_pid: Option<u32>,
    kubeconfig: &Path,
    data_dir: &Path,
) -> Result<Section> {
    let mut sec = Section::default();
    let t = Target::open("minato", kubeconfig, false).await?;
    let node_up = wait_nodes_ready(&t.client, 1, Some(NODE), Duration::from_secs(60)).await?;
    let ns = "default";
    wait_default_sa(&t.client, ns).await?;
    // The ServiceAccount token volume projects kube-root-ca.crt; wait for its publisher.
    let cms: Api<ConfigMap> = Api::namespaced(t.client.clone(), ns);
    let start = Instant::now();
    while cms
        .get_opt("kube-root-ca.crt")
        .await
        .ok()
        .flatten()
        .is_none()
    {
        if start.elapsed() > Duration::from_secs(30) {
            bail!("no ConfigMap kube-root-ca.crt in {ns} after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let window = Duration::from_secs(args.idle_window_secs.max(1));
    // The processes measured: the server, and the agent when it runs apart.
    let mut procs: Vec<(&str, &str, u32)> = Vec::new();
    match agent_pid {
        Some(a) => {
            procs.push((
                "server",
                "server process (API server + controllers + scheduler)",
                pid,
            ));
            procs.push(("agent", "node agent process (minato agent)", a));
        }
        None => procs.push((
            "server",
            "server process (API server + controllers + scheduler + embedded agent)",
            pid,
        )),
    }
    let pids: Vec<u32> = procs.iter().map(|p| p.2).collect();
    let idle = sample_all(&pids, window).await?;
    let idle_peak = pids
        .iter()
        .map(|p| proc_status_bytes(*p, "VmHWM"))
        .collect::<Result<Vec<_>>>()?;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(t.client.clone());
    let runtime = nodes
        .get(NODE)
        .await?
        .status
        .and_then(|s| s.node_info)
        .map(|i| i.container_runtime_version)
        .unwrap_or_default();
    sec.line(format!("node agent's OCI runtime: {runtime}"));
    say(&format!(
        "  node Ready {:.1} s after launch; idle RSS {} MB, CPU {:.1}%",
        node_up.as_secs_f64(),
        mb(idle.iter().map(|x| x.0).sum()),
        idle.iter().map(|x| x.1).sum::<f64>()
    ));

    let n = args.pod_count;
    let tracker = PodTracker::start(&t.client, ns).await?;
    let api: Api<Pod> = Api::namespaced(t.client.clone(), ns);
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let cpu0 = pids
        .iter()
        .map(|p| cpu_time(*p))
        .collect::<Result<Vec<_>>>()?;
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..n {
        let api = api.clone();
        let sent = sent.clone();
        let name = format!("{POD_PREFIX}{i}");
        set.spawn(async move {
            let p = pod(&name);
            let at = Instant::now();
            sent.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name, at);
            api.create(&PostParams::default(), &p).await.map(|_| ())
        });
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("creating a pod failed: {e}"),
            Err(e) => bail!("creating a pod failed: {e}"),
        }
    }
    let deadline = Duration::from_secs(args.pod_timeout_secs);
    let mut timed_out = false;
    loop {
        if tracker.with(|s| s.ready) >= n {
            break;
        }
        if t0.elapsed() > deadline {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all_ready = t0.elapsed();
    let cpu_start = pids
        .iter()
        .zip(&cpu0)
        .map(|(p, c0)| Ok(cpu_time(*p)?.saturating_sub(*c0)))
        .collect::<Result<Vec<_>>>()?;
    let (times, ready) = tracker.with(|s| (s.pods.clone(), s.ready));
    drop(tracker);
    let sent = sent.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut lat = Vec::new();
    let mut running_lat = Vec::new();
    for (name, at) in &sent {
        if let Some(p) = times.get(name) {
            if let Some(r) = p.ready {
                lat.push(r.saturating_duration_since(*at));
            }
            if let Some(r) = p.running {
                running_lat.push(r.saturating_duration_since(*at));
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let busy = sample_all(&pids, window).await?;
    let peak = pids
        .iter()
        .map(|p| proc_status_bytes(*p, "VmHWM"))
        .collect::<Result<Vec<_>>>()?;
    let (shims, shim_rss, shim_pss) = shims_rss(data_dir);

    let s = Summary::of(&lat);
    if timed_out {
        sec.line(format!(
            "TIMED OUT after {deadline:?}: {ready} of {n} pods Ready"
        ));
        sec.set("error", json!(format!("{ready} of {n} pods Ready")));
    }
    sec.line(format!(
        "{n} pods (busybox sleep, imagePullPolicy Never) created at once; all Ready after {:.3} s",
        all_ready.as_secs_f64()
    ));
    sec.line(format!(
        "create request -> Ready seen by a watch: min {:.2} ms  {}  [target p99 <= 1 s: {}; upstream SLO 5 s]",
        ms(s.min),
        s.text(),
        if !timed_out && s.p99 <= Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    ));
    sec.line(format!(
        "create request -> Running seen: {}",
        Summary::of(&running_lat).text()
    ));
    let mut procs_json = serde_json::Map::new();
    for (i, (key, label, _)) in procs.iter().enumerate() {
        let target = if *key == "agent" {
            format!(
                "  [target agent idle RSS <= 20 MB: {}]",
                if mb(idle[i].0) <= 20.0 {
                    "met"
                } else {
                    "NOT met"
                }
            )
        } else if agent_pid.is_none() {
            "  [target agent idle RSS <= 20 MB: not measurable apart with --embedded-agent]".into()
        } else {
            String::new()
        };
        sec.line(format!(
            "{label} idle: RSS {} MB (peak {} MB), CPU {:.1}% of a core{target}",
            mb(idle[i].0),
            mb(idle_peak[i]),
            idle[i].1
        ));
        sec.line(format!(
            "{label} with {n} pods running: RSS {} MB (peak {} MB), CPU {:.1}% of a core; CPU time spent starting the pods {:.2} s",
            mb(busy[i].0),
            mb(peak[i]),
            busy[i].1,
            cpu_start[i].as_secs_f64()
        ));
        procs_json.insert(
            key.to_string(),
            json!({"idle_rss_mb": mb(idle[i].0), "idle_cpu_pct": idle[i].1,
                   "busy_rss_mb": mb(busy[i].0), "busy_cpu_pct": busy[i].1,
                   "peak_rss_mb": mb(peak[i]), "startup_cpu_s": cpu_start[i].as_secs_f64()}),
        );
    }
    sec.line(format!(
        "container shims (separate processes): {shims}, {} MB RSS in total (counts shared pages once per shim), {} MB PSS",
        mb(shim_rss),
        mb(shim_pss)
    ));
    sec.set("startup", s.json());
    sec.set("running", Summary::of(&running_lat).json());
    sec.set("all_ready_s", json!(all_ready.as_secs_f64()));
    procs_json.insert(
        "shims".into(),
        json!({"count": shims, "rss_mb": mb(shim_rss), "pss_mb": mb(shim_pss)}),
    );
    sec.set("processes", serde_json::Value::Object(procs_json));
    if let Some(i) = procs.iter().position(|p| p.0 == "agent") {
        sec.figure("agent_idle_rss_mb", mb(idle[i].0), "MB");
    }
    sec.figure("startup_p50_ms", ms(s.p50), "ms");
    sec.figure("startup_p99_ms", ms(s.p99), "ms");
    sec.figure("startup_max_ms", ms(s.max), "ms");
    sec.figure("all_running_s", all_ready.as_secs_f64(), "s");
    Ok(sec)
}

// ---------------------------------------------------------------- podman baseline

/// The runtime minato's agent picks by default: crun unless it is missing or this is a hybrid
/// cgroup host with controllers left on cgroup2 (crun refuses those), else runc.
fn oci_runtime() -> &'static str {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("crun").is_file()))
        .unwrap_or(false);
    let unified = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers");
    let hybrid_blocked = Path::new("/sys/fs/cgroup/cpu").exists()
        && unified.map(|c| !c.trim().is_empty()).unwrap_or(false);
    if on_path && !hybrid_blocked {
        "crun"
    } else {
        "runc"
    }
}

/// Podman with this host's needs (cgroupfs, file events, a non-clashing network, nofile
/// ulimits), and everything the baseline made, removed on drop.
struct Podman {
    /// The OCI runtime, the one minato's agent picks here (see [`oci_runtime`]).
    runtime: &'static str,
    conf: PathBuf,
    yaml: PathBuf,
    pods: Vec<String>,
    network: bool,
    images_before: Vec<String>,
    /// `nft list tables` before the run: netavark leaves iptables-nft tables behind.
    nft_tables_before: Vec<String>,
    _dir: tempfile::TempDir,
}

fn nft_tables() -> Vec<String> {
    Command::new("nft")
        .args(["list", "tables"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("table "))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Deletes the iptables-nft tables netavark made for this run (`ip nat`, `ip filter`) if they
/// did not exist before and hold nothing but netavark's chains and the base chains.
fn remove_netavark_tables(before: &[String]) {
    for table in nft_tables() {
        if before.contains(&table) || !matches!(table.as_str(), "ip nat" | "ip filter") {
            continue;
        }
        let mut args = vec!["list", "table"];
        args.extend(table.split(' '));
        let Ok(out) = Command::new("nft").args(&args).output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let only_ours = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("chain "))
            .map(|c| c.trim_end_matches(" {").trim())
            .all(|c| {
                c.starts_with("NETAVARK")
                    || ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"].contains(&c)
            });
        if only_ours {
            let mut del = vec!["delete", "table"];
            del.extend(table.split(' '));
            let _ = Command::new("nft").args(&del).output();
        }
    }
}

impl Podman {
    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf).args([
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
            &format!("--runtime={}", self.runtime),
        ]);
        c
    }

    fn images(&self) -> Vec<String> {
        self.cmd()
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if !self.pods.is_empty() {
            let _ = self
                .cmd()
                .args(["pod", "rm", "-f", "-t", "0"])
                .args(&self.pods)
                .output();
            let _ = self.cmd().args(["kube", "down"]).arg(&self.yaml).output();
        }
        if self.network {
            let _ = self
                .cmd()
                .args(["network", "rm", "-f", PODMAN_NET])
                .output();
        }
        // Only images this run brought in: the busybox archive and podman's local pause image.
        for img in self.images() {
            if !self.images_before.contains(&img)
                && (img.starts_with("localhost/busybox")
                    || img.starts_with("localhost/podman-pause"))
            {
                let _ = self.cmd().args(["rmi", "-f", &img]).output();
            }
        }
        remove_netavark_tables(&self.nft_tables_before);
    }
}

fn unix_nanos(t: SystemTime) -> i128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

pub async fn podman_baseline(args: &Args) -> Result<Section> {
    if !is_root() {
        bail!("the podman baseline needs root (rootful podman with cgroupfs)");
    }
    let n = args.pod_count;
    let timeout = Duration::from_secs(args.pod_timeout_secs);
    tokio::task::spawn_blocking(move || podman_blocking(n, timeout))
        .await
        .context("podman baseline task failed")?
}

fn podman_blocking(n: usize, timeout: Duration) -> Result<Section> {
    let mut sec = Section::default();
    let dir = tempfile::Builder::new()
        .prefix("minato-bench-podman-")
        .tempdir()?;
    let conf = dir.path().join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
         [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
    )?;
    let archive = busybox_archive(&dir.path().join("img"))?;
    let pods: Vec<String> = (0..n).map(|i| format!("{POD_PREFIX}{i}")).collect();
    let mut yaml = String::new();
    for p in &pods {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {p}\nspec:\n  containers:\n  - name: c\n    image: {IMAGE}\n    imagePullPolicy: Never\n    command: [\"sleep\", \"3600\"]\n"
        ));
    }
    let yaml_path = dir.path().join("pods.yaml");
    std::fs::write(&yaml_path, yaml)?;
    let mut pm = Podman {
        runtime: oci_runtime(),
        conf,
        yaml: yaml_path.clone(),
        pods: Vec::new(),
        network: false,
        images_before: Vec::new(),
        nft_tables_before: nft_tables(),
        _dir: dir,
    };
    let version = run(pm.cmd().arg("--version"), "podman --version")?;
    pm.images_before = pm.images();
    if pm
        .cmd()
        .args(["network", "exists", PODMAN_NET])
        .status()
        .is_ok_and(|s| s.success())
    {
        bail!("podman network {PODMAN_NET} exists already (an earlier run?); remove it with `podman network rm {PODMAN_NET}`");
    }
    run(
        pm.cmd()
            .args(["network", "create", "--subnet", PODMAN_SUBNET, PODMAN_NET]),
        "podman network create",
    )?;
    pm.network = true;
    run(pm.cmd().arg("load").arg("-i").arg(&archive), "podman load")?;
    // Warm up: the first pod builds podman's local pause image; minato's image is also
    // imported before its clock starts.
    run(
        pm.cmd().args(["pod", "create", "--name", "mbench-warmup"]),
        "podman pod create",
    )?;
    let _ = pm
        .cmd()
        .args(["pod", "rm", "-f", "-t", "0", "mbench-warmup"])
        .output();

    pm.pods = pods.clone();
    let wall0 = SystemTime::now();
    let t0 = Instant::now();
    run(
        pm.cmd()
            .args(["kube", "play", "--network", PODMAN_NET])
            .arg(&yaml_path),
        "podman kube play",
    )?;
    let play_done = t0.elapsed();
    let mut running: usize;
    let mut timed_out = false;
    loop {
        let out = run(
            pm.cmd().args([
                "pod",
                "ps",
                "--filter",
                &format!("name={POD_PREFIX}"),
                "--format",
                "{{.Name}} {{.Status}}",
            ]),
            "podman pod ps",
        )?;
        running = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.ends_with(" Running"))
            .count();
        if running >= n {
            break;
        }
        if t0.elapsed() > timeout {
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let all_running = t0.elapsed();
    let names: Vec<String> = pods.iter().map(|p| format!("{p}-c")).collect();
    let out = run(
        pm.cmd()
            .args(["inspect", "--format", "{{.State.StartedAt.UnixNano}}"])
            .args(&names),
        "podman inspect",
    )?;
    let start_ns = unix_nanos(wall0);
    let lat: Vec<Duration> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<i128>().ok())
        .map(|ns| Duration::from_nanos((ns - start_ns).max(0) as u64))
        .collect();
    let s = Summary::of(&lat);
    if timed_out {
        sec.line(format!(
            "TIMED OUT after {timeout:?}: {running} of {n} pods Running"
        ));
        sec.set("error", json!(format!("{running} of {n} pods Running")));
    }
    sec.line(format!(
        "{} `podman kube play` of the same {n} pods (cgroupfs, network {PODMAN_NET}); command took {:.3} s; all Running in `podman pod ps` after {:.3} s",
        String::from_utf8_lossy(&version.stdout).trim(),
        play_done.as_secs_f64(),
        all_running.as_secs_f64()
    ));
    sec.line(format!(
        "command start -> container StartedAt: min {:.2} ms  {}",
        ms(s.min),
        s.text()
    ));
    sec.set("startup", s.json());
    sec.set("all_ready_s", json!(all_running.as_secs_f64()));
    sec.figure("startup_p50_ms", ms(s.p50), "ms");
    sec.figure("startup_p99_ms", ms(s.p99), "ms");
    sec.figure("startup_max_ms", ms(s.max), "ms");
    sec.figure("all_running_s", all_running.as_secs_f64(), "s");
    drop(pm);
    Ok(sec)
}
