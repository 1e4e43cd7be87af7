//! The `minato` binary: every component behind one command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "minato",
    version,
    about = "A Kubernetes-compatible container orchestrator in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane (API server on an embedded store, controllers) in this process.
    Server(ServerArgs),
    /// Run the controllers (namespace lifecycle, garbage collector, workloads) against an API server.
    ControllerManager(ClientArgs),
    /// Run the scheduler against an API server.
    Scheduler(ClientArgs),
    /// Register simulated nodes with an API server (for tests and benchmarks; runs no containers).
    Simulate(SimulateArgs),
    /// Run a node agent (the kubelet's job) against an API server: runs this machine's pods.
    Agent(AgentArgs),
    /// Stop every container a node agent started and remove its pods, pod network and cgroups.
    Reset(ResetArgs),
    /// Manage the node's images: import archives, list, remove, pull.
    Images(ImagesCommand),
    /// Internal: the per-container shim the agent starts (not for direct use).
    #[command(hide = true)]
    Shim {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Parser)]
struct ResetArgs {
    /// The node agent's data dir (`minato server` uses DATA_DIR/agent).
    #[arg(long, default_value = "/var/lib/minato/agent")]
    data_dir: PathBuf,
    #[arg(long, default_value = "minato0")]
    bridge: String,
    #[arg(long, default_value = "/minato")]
    cgroup_root: String,
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: String,
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cidr: String,
}

#[derive(Parser)]
struct ImagesCommand {
    /// The node agent's data dir (its image store is DIR/images).
    #[arg(long, default_value = "/var/lib/minato/agent")]
    data_dir: PathBuf,
    /// Registry mirrors and credentials (k3s's registries.yaml format).
    #[arg(long, default_value = "/etc/minato/registries.yaml")]
    registries: PathBuf,
    #[command(flatten)]
    args: minato_images::cli::ImagesArgs,
}

/// Settings of a node agent, shared by `minato server` (its local node) and `minato agent`.
#[derive(Parser, Clone)]
struct NodeArgs {
    /// Name of this node (default: the host name).
    #[arg(long)]
    node_name: Option<String>,
    /// Address the node reports as InternalIP (default: the address of the default route's interface).
    #[arg(long)]
    node_ip: Option<std::net::IpAddr>,
    /// Labels for the node, as k=v,k2=v2.
    #[arg(long, default_value = "")]
    node_labels: String,
    /// Port of the node agent's HTTPS server (logs, exec, port-forward); 0 picks a free port.
    #[arg(long, default_value_t = 10250)]
    kubelet_port: u16,
    /// The cluster's pod range (each node gets a /24 of it).
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: String,
    /// Cgroup under which the agent puts its pods.
    #[arg(long, default_value = "/minato")]
    cgroup_root: String,
    /// Name of the pod bridge on this node.
    #[arg(long, default_value = "minato0")]
    bridge: String,
    /// OCI runtime for containers: `crun`, `runc` (looked up on PATH) or a path. Default:
    /// crun when it is installed and usable on this host (it starts containers about twice
    /// as fast), else runc.
    #[arg(long)]
    container_runtime: Option<PathBuf>,
    /// Maximum pods on this node.
    #[arg(long, default_value_t = 110)]
    max_pods: u32,
    /// Address of the cluster DNS service (pods with dnsPolicy ClusterFirst use it); unset:
    /// pods use the host's resolver settings.
    #[arg(long)]
    cluster_dns: Option<std::net::IpAddr>,
    /// Registry mirrors and credentials (k3s's registries.yaml format).
    #[arg(long, default_value = "/etc/minato/registries.yaml")]
    registries: PathBuf,
    /// Hard eviction thresholds, as the kubelet's: e.g.
    /// "memory.available<100Mi,nodefs.available<10%". Unset: the kubelet's defaults
    /// (memory.available<100Mi, nodefs.available<10%, nodefs.inodesFree<5%,
    /// imagefs.available<15%, imagefs.inodesFree<5%); signals not named are not watched.
    #[arg(long)]
    eviction_hard: Option<minato_agent::thresholds::Thresholds>,
    /// Unsafe sysctls pods may set besides the safe ones, as the kubelet's flag: e.g.
    /// "kernel.msg*,net.core.somaxconn". Only namespaced ones (net.*, kernel.shm*,
    /// kernel.msg*, kernel.sem, fs.mqueue.*) can be allowed.
    #[arg(long, value_delimiter = ',')]
    allowed_unsafe_sysctls: Vec<String>,
}

#[derive(Parser)]
struct AgentArgs {
    /// URL of the API server to join, e.g. https://10.0.0.1:6443 (with --token).
    #[arg(long, requires = "token")]
    server: Option<String>,
    /// The server's join token (its <data dir>/node-token): K10<CA hash>::node:<secret>.
    /// The agent fetches the cluster CA from the server and checks it against the hash.
    #[arg(long, env = "MINATO_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// kubeconfig of the API server to work for (used when --server is not given).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// With --kubeconfig: the cluster CA (PEM); only clients with certificates it signed may
    /// call the agent. With --server, the CA comes from the server.
    #[arg(long)]
    client_ca_file: Option<PathBuf>,
    /// Where images, containers, volumes and logs live.
    #[arg(long, default_value = "/var/lib/minato/agent")]
    data_dir: PathBuf,
    /// The Service range (kept on the pod bridge, never routed out).
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cidr: String,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Parser)]
struct SimulateArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    sim: minato_simulator::cli::SimArgs,
}

#[derive(Parser)]
struct ClientArgs {
    /// kubeconfig of the API server to work for.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
}

#[derive(Parser)]
struct ServerArgs {
    /// Where the store, certificates and the admin kubeconfig live.
    #[arg(long, default_value = "/var/lib/minato")]
    data_dir: PathBuf,
    /// Address and port to serve the Kubernetes API on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Service ClusterIP range.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cidr: String,
    /// NodePort range, as FIRST-LAST.
    #[arg(long, default_value = "30000-32767")]
    node_port_range: String,
    /// Seats for non-mutating requests; with --max-mutating-requests-inflight, the seats API
    /// Priority and Fairness shares among the priority levels (as upstream).
    #[arg(long, default_value_t = 400)]
    max_requests_inflight: usize,
    /// Seats for mutating requests (added to --max-requests-inflight).
    #[arg(long, default_value_t = 200)]
    max_mutating_requests_inflight: usize,
    /// How long an Event is kept after its last write, as a Go duration ("1h", "90s"; "0"
    /// keeps Events forever), as upstream's --event-ttl.
    #[arg(long, default_value = "1h", value_parser = parse_event_ttl)]
    event_ttl: std::time::Duration,
    /// Do not run the controllers in this process (run `minato controller-manager` instead).
    #[arg(long)]
    no_controllers: bool,
    /// How long a node may go without a heartbeat before it is marked Unknown and tainted
    /// (upstream's --node-monitor-grace-period), in seconds.
    #[arg(long, default_value_t = 40)]
    node_monitor_grace_period: u64,
    /// Nodes per second that get NoExecute taints (and so lose their pods) in a healthy zone
    /// (upstream's --node-eviction-rate).
    #[arg(long, default_value_t = 0.1)]
    node_eviction_rate: f64,
    /// The same in a partially disrupted zone larger than --large-cluster-size-threshold
    /// (upstream's --secondary-node-eviction-rate).
    #[arg(long, default_value_t = 0.01)]
    secondary_node_eviction_rate: f64,
    /// Zones of at most this many nodes evict nothing while partially disrupted.
    #[arg(long, default_value_t = 50)]
    large_cluster_size_threshold: usize,
    /// Share of not-Ready nodes (more than two) that makes a zone partially disrupted.
    #[arg(long, default_value_t = 0.55)]
    unhealthy_zone_threshold: f64,
    /// Do not run the scheduler in this process (run `minato scheduler` instead).
    #[arg(long)]
    no_scheduler: bool,
    /// Do not run the local node agent (no pods run on this machine then).
    #[arg(long)]
    no_agent: bool,
    #[command(flatten)]
    node: NodeArgs,
    /// Register N simulated nodes in this process (tests and benchmarks; they run no containers).
    #[arg(long, default_value_t = 0)]
    simulated_nodes: u32,
}

fn parse_event_ttl(s: &str) -> Result<std::time::Duration, String> {
    minato_resources::duration::parse(s)
        .ok_or_else(|| format!("{s:?} is not a duration: write it like 1h, 30m or 90s"))
}

fn parse_port_range(s: &str) -> anyhow::Result<(u16, u16)> {
    let (a, b) = s
        .split_once('-')
        .context("--node-port-range must look like 30000-32767")?;
    Ok((
        a.trim()
            .parse()
            .context("bad first port in --node-port-range")?,
        b.trim()
            .parse()
            .context("bad last port in --node-port-range")?,
    ))
}

async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let db = args.data_dir.join("state.db");
    let store = minato_store::sqlite::SqliteStore::open(&db, Default::default())
        .with_context(|| format!("cannot open the store at {}", db.display()))?;
    let mut config = minato_apiserver::Config::new(args.listen, args.data_dir.clone());
    config.service_cidr = args.service_cidr.clone();
    config.node_port_range = parse_port_range(&args.node_port_range)?;
    config.server_concurrency_limit =
        args.max_requests_inflight + args.max_mutating_requests_inflight;
    config.event_ttl = args.event_ttl;
    if config.server_concurrency_limit == 0 {
        anyhow::bail!(
            "--max-requests-inflight plus --max-mutating-requests-inflight must be at least 1"
        );
    }
    // Listening on every address: agents on other machines reach us at the host's address,
    // which the serving certificate must then name.
    let public_ip = if args.listen.ip().is_unspecified() {
        let ip = args
            .node
            .node_ip
            .unwrap_or_else(minato_agent::host::default_ip);
        config.extra_san_ips.push(ip);
        Some(ip)
    } else {
        None
    };
    let running = minato_apiserver::server::start(config, store).await?;
    tracing::info!(
        addr = %running.addr,
        kubeconfig = %running.kubeconfig.display(),
        ready_ms = started.elapsed().as_millis() as u64,
        "minato API server ready"
    );
    eprintln!(
        "minato is ready on https://{} (kubeconfig: {})",
        running.addr,
        running.kubeconfig.display()
    );
    let join_addr = match public_ip {
        Some(ip) => std::net::SocketAddr::new(ip, running.addr.port()),
        None => running.addr,
    };
    eprintln!(
        "other machines join as nodes with: minato agent --server https://{join_addr} --token \"$(cat {})\"",
        minato_apiserver::join::token_path(&args.data_dir).display()
    );
    // The cluster CA the API server just loaded or made: the agent trusts callers it signed
    // (and signs its serving certificate with it); the controllers publish it.
    let (ca_path, ca_key_path) = minato_apiserver::pki::ca_files(&args.data_dir);
    let ca = std::fs::read_to_string(&ca_path).context("cannot read the cluster CA")?;
    // Each in-process component talks to the API server as its upstream counterpart does,
    // with a certificate of its own, so API Priority and Fairness classifies its requests as
    // upstream's (workload-high for the scheduler and controllers, system for nodes) instead
    // of exempting them as the admin's.
    let component = |stem: &str, cn: &str, orgs: &[&str]| {
        component_kubeconfig(&args.data_dir, &running.kubeconfig, stem, cn, orgs)
    };
    if !args.no_agent {
        let ca_key =
            std::fs::read_to_string(&ca_key_path).context("cannot read the cluster CA key")?;
        let agent = agent_config(
            &args.node,
            args.data_dir.join("agent"),
            &ca,
            Some(&ca_key),
            Some(args.service_cidr.clone()),
        )?;
        let kubeconfig = component(
            "node",
            &format!("system:node:{}", agent.node_name),
            &["system:nodes"],
        )?;
        tokio::spawn(async move {
            supervise("node agent", kubeconfig, move |c| {
                let agent = agent.clone();
                async move {
                    minato_agent::run(c, agent)
                        .await
                        .map_err(anyhow::Error::from)
                }
            })
            .await
        });
    }
    if !args.no_controllers {
        let kubeconfig = component("controller-manager", "system:kube-controller-manager", &[])?;
        let mut config = minato_controllers::ControllerConfig::default();
        config.node_ipam.cluster_cidr = args.node.cluster_cidr.clone();
        config.root_ca = Some(ca.clone());
        config.node_lifecycle.grace_period =
            std::time::Duration::from_secs(args.node_monitor_grace_period);
        config.node_lifecycle.eviction_rate = args.node_eviction_rate;
        config.node_lifecycle.secondary_eviction_rate = args.secondary_node_eviction_rate;
        config.node_lifecycle.large_cluster_size_threshold = args.large_cluster_size_threshold;
        config.node_lifecycle.unhealthy_zone_threshold = args.unhealthy_zone_threshold;
        tokio::spawn(async move {
            supervise("controllers", kubeconfig, move |c| {
                let config = config.clone();
                async move {
                    minato_controllers::run_all_with(c, config)
                        .await
                        .map_err(anyhow::Error::from)
                }
            })
            .await
        });
    }
    if args.simulated_nodes > 0 {
        // One identity for every simulated node, in the nodes' group (upstream's hollow nodes
        // have one each).
        let kubeconfig = component(
            "simulated-nodes",
            "system:node:minato-simulator",
            &["system:nodes"],
        )?;
        let config = minato_simulator::SimConfig::with_nodes(args.simulated_nodes);
        tokio::spawn(async move {
            supervise("simulated nodes", kubeconfig, move |c| {
                let config = config.clone();
                async move {
                    minato_simulator::run(c, config)
                        .await
                        .map_err(anyhow::Error::from)
                }
            })
            .await
        });
    }
    if !args.no_scheduler {
        let kubeconfig = component("scheduler", "system:kube-scheduler", &[])?;
        tokio::spawn(async move {
            supervise("scheduler", kubeconfig, |c| async move {
                minato_scheduler::run(c, Default::default())
                    .await
                    .map_err(anyhow::Error::from)
            })
            .await
        });
    }
    tokio::select! {
        _ = running.wait() => {}
        _ = shutdown_signal() => { tracing::info!("shutting down"); }
    }
    Ok(())
}

fn parse_labels(s: &str) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("--node-labels: {p:?} is not key=value"))
        })
        .collect()
}

/// The node agent's settings from the command line; `ca_key_pem` (embedded server only)
/// signs the agent's serving certificate, otherwise it is self-signed.
fn agent_config(
    node: &NodeArgs,
    data_dir: PathBuf,
    ca_pem: &str,
    ca_key_pem: Option<&str>,
    service_cidr: Option<String>,
) -> anyhow::Result<minato_agent::AgentConfig> {
    let node_name = node
        .node_name
        .clone()
        .unwrap_or_else(minato_agent::host::hostname);
    let node_ip = node.node_ip.unwrap_or_else(minato_agent::host::default_ip);
    let (cert, key) = minato_agent::server::serving_cert(ca_pem, ca_key_pem, &node_name, node_ip)
        .context("cannot make the node agent's serving certificate")?;
    let registries = minato_images::RegistriesConfig::load(&node.registries)
        .with_context(|| format!("cannot read {}", node.registries.display()))?;
    Ok(minato_agent::AgentConfig {
        node_name,
        node_ip,
        node_labels: parse_labels(&node.node_labels)?,
        data_dir,
        kubelet_port: node.kubelet_port,
        max_pods: node.max_pods,
        pod_cidr: None,
        cluster_cidr: node.cluster_cidr.clone(),
        service_cidr,
        cluster_dns: node.cluster_dns,
        cluster_domain: "cluster.local".into(),
        cgroup_root: node.cgroup_root.clone(),
        bridge: node.bridge.clone(),
        shim_binary: std::env::current_exe().context("cannot find the minato binary")?,
        container_runtime: node.container_runtime.clone(),
        client_ca_pem: ca_pem.to_string(),
        serving_cert_pem: cert,
        serving_key_pem: key,
        registries,
        eviction_hard: node.eviction_hard.clone().unwrap_or_default(),
        allowed_unsafe_sysctls: node.allowed_unsafe_sysctls.clone(),
    })
}

async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let (client, ca) = match (&args.server, &args.kubeconfig) {
        // --server wins over a kubeconfig, which may come from $KUBECONFIG unasked.
        (Some(server), _) => {
            let token = args
                .token
                .as_deref()
                .context("--server needs --token (the server's <data dir>/node-token)")?;
            join(server, token).await?
        }
        (None, Some(kubeconfig)) => {
            let ca_file = args
                .client_ca_file
                .as_ref()
                .context("--kubeconfig needs --client-ca-file (the cluster CA)")?;
            let ca = std::fs::read_to_string(ca_file)
                .with_context(|| format!("cannot read {}", ca_file.display()))?;
            (kube_client(kubeconfig).await?, ca)
        }
        (None, None) => anyhow::bail!(
            "say which API server to join: --server URL --token T (the token is in the \
             server's <data dir>/node-token), or --kubeconfig F --client-ca-file CA"
        ),
    };
    let config = agent_config(
        &args.node,
        args.data_dir,
        &ca,
        None,
        Some(args.service_cidr),
    )?;
    tokio::select! {
        r = minato_agent::run(client, config) => r.context("node agent failed"),
        _ = shutdown_signal() => Ok(()),
    }
}

/// Joins a server by URL and join token: fetches the CA bundle from `/cacerts` without
/// trusting the connection, accepts it only if its hash is the one in the token, then builds a
/// client that verifies the server with that CA and authenticates with the token.
async fn join(server: &str, token: &str) -> anyhow::Result<(kube::Client, String)> {
    let parsed = minato_apiserver::join::JoinToken::parse(token)?;
    let url: http::Uri = server.parse().with_context(|| {
        format!("--server {server:?} is not a URL (e.g. https://10.0.0.1:6443)")
    })?;
    if url.scheme_str() != Some("https") {
        anyhow::bail!("--server {server:?} must be an https:// URL");
    }
    let ca = minato_apiserver::join::fetch_ca_bundle(&url).await?;
    let ca = String::from_utf8(ca).context("the CA bundle the server sent is not text")?;
    if !parsed.ca_matches(ca.as_bytes()) {
        anyhow::bail!(
            "the CA that {server} serves does not match the hash in the join token: either the \
             token is from another server, or something between us poses as the server"
        );
    }
    let kubeconfig = join_kubeconfig(server, &ca, token);
    let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig)
        .context("cannot build the agent's kubeconfig")?;
    let config = with_user_agent(
        kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .context("cannot build the agent's client configuration")?,
    );
    let client = kube::Client::try_from(config).context("cannot build an API client")?;
    // Fail now, with a clear message, if the server refuses the token (`/api` needs
    // credentials; `/version` would not).
    client.list_core_api_versions().await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 401 => anyhow::anyhow!(
            "{server} refused the join token (401): copy it again from the server's \
             <data dir>/node-token"
        ),
        e => anyhow::Error::new(e).context(format!("cannot reach the API server at {server}")),
    })?;
    Ok((client, ca))
}

/// A kubeconfig naming `server`, trusting `ca_pem` and authenticating with `token`.
fn join_kubeconfig(server: &str, ca_pem: &str, token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "minato", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": "node-agent", "user": {"token": token.trim()}}],
        "contexts": [{"name": "minato", "context": {"cluster": "minato", "user": "node-agent"}}],
        "current-context": "minato",
    })
    .to_string()
}

async fn reset(args: ResetArgs) -> anyhow::Result<()> {
    let cfg = minato_agent::ResetConfig {
        data_dir: args.data_dir,
        bridge: args.bridge,
        cgroup_root: args.cgroup_root,
        cluster_cidr: args.cluster_cidr,
        service_cidr: Some(args.service_cidr),
    };
    let shim = std::env::current_exe().context("cannot find the minato binary")?;
    minato_agent::reset(&cfg, shim)
        .await
        .context("reset failed")
}

async fn images(cmd: ImagesCommand) -> anyhow::Result<()> {
    let registries = minato_images::RegistriesConfig::load(&cmd.registries)
        .with_context(|| format!("cannot read {}", cmd.registries.display()))?;
    minato_images::cli::run(cmd.args, cmd.data_dir.join("images"), registries).await
}

/// The client configuration a kubeconfig describes, named as upstream's controller manager so
/// managedFields and events read the same.
async fn kube_config(kubeconfig: &std::path::Path) -> anyhow::Result<kube::Config> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("cannot read kubeconfig {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .context("the kubeconfig does not describe a usable cluster")?;
    Ok(with_user_agent(config))
}

/// Writes `<data dir>/<stem>.kubeconfig`: the admin kubeconfig's cluster with a client
/// certificate for `cn`/`orgs` signed by the cluster CA (made once, kept in `tls/`).
fn component_kubeconfig(
    data_dir: &std::path::Path,
    admin_kubeconfig: &std::path::Path,
    stem: &str,
    cn: &str,
    orgs: &[&str],
) -> anyhow::Result<PathBuf> {
    use base64::Engine;
    let tls = data_dir.join("tls");
    let (crt, key) = (
        tls.join(format!("{stem}.crt")),
        tls.join(format!("{stem}.key")),
    );
    let (ca_crt, ca_key) = minato_apiserver::pki::ca_files(data_dir);
    let (cert, key) =
        minato_apiserver::pki::issue_cert((&ca_crt, &ca_key), (&crt, &key), cn, orgs, &[], &[])
            .with_context(|| format!("cannot make the {stem} client certificate"))?;
    let mut kc = kube::config::Kubeconfig::read_from(admin_kubeconfig)
        .context("cannot read the admin kubeconfig")?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    for user in &mut kc.auth_infos {
        if let Some(auth) = user.auth_info.as_mut() {
            auth.client_certificate_data = Some(b64(&cert));
            auth.client_key_data = Some(b64(&key).into());
        }
        user.name = cn.to_string();
    }
    for ctx in &mut kc.contexts {
        if let Some(c) = ctx.context.as_mut() {
            c.user = Some(cn.to_string());
        }
    }
    let path = data_dir.join(format!("{stem}.kubeconfig"));
    // JSON is YAML: kubectl and every client read it.
    let yaml = serde_json::to_string_pretty(&kc).context("cannot write a kubeconfig")?;
    minato_apiserver::pki::write_secret_file(&path, &yaml)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Names a client as upstream's controller manager, so managedFields and events read the same.
fn with_user_agent(mut config: kube::Config) -> kube::Config {
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static("kube-controller-manager/v1.33.0 (linux/amd64) minato"),
    ));
    config
}

async fn kube_client(kubeconfig: &std::path::Path) -> anyhow::Result<kube::Client> {
    kube::Client::try_from(kube_config(kubeconfig).await?).context("cannot build an API client")
}

/// Runs a component as an API client of our own server, restarting it if it fails.
async fn supervise<F, Fut>(what: &'static str, kubeconfig: PathBuf, run: F)
where
    F: Fn(kube::Client) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut backoff = std::time::Duration::from_millis(500);
    loop {
        match kube_client(&kubeconfig).await {
            Ok(client) => match run(client).await {
                Ok(()) => return,
                Err(e) => tracing::warn!(component = what, error = %e, "stopped; restarting"),
            },
            Err(e) => tracing::warn!(component = what, error = %e, "cannot start; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
    }
}

async fn controller_manager(args: ClientArgs) -> anyhow::Result<()> {
    let kcfg = kube_config(&args.kubeconfig).await?;
    let config = minato_controllers::ControllerConfig {
        root_ca: minato_controllers::rootca::ca_bundle_from_config(&kcfg),
        ..Default::default()
    };
    let client = kube::Client::try_from(kcfg).context("cannot build an API client")?;
    tokio::select! {
        r = minato_controllers::run_all_with(client, config) => r.context("controllers failed"),
        _ = shutdown_signal() => Ok(()),
    }
}

async fn scheduler(args: ClientArgs) -> anyhow::Result<()> {
    let client = kube_client(&args.kubeconfig).await?;
    tokio::select! {
        r = minato_scheduler::run(client, Default::default()) => r.context("scheduler failed"),
        _ = shutdown_signal() => Ok(()),
    }
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let config = args.sim.to_config().context("bad simulator settings")?;
    let client = kube_client(&args.client.kubeconfig).await?;
    tokio::select! {
        r = minato_simulator::run(client, config) => r.context("simulated nodes failed"),
        _ = shutdown_signal() => Ok(()),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn main() -> anyhow::Result<()> {
    // The shim and the pods' PID namespace holders are small processes of their own: no async
    // runtime, no logging setup.
    minato_runtime::pid_holder::main_if_holder();
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("shim") {
        minato_runtime::shim::main(argv[2..].to_vec());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MINATO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // One TLS crypto provider for every client and server in the process (kube, our API server).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Server(args) => runtime.block_on(server(args)),
        Command::ControllerManager(args) => runtime.block_on(controller_manager(args)),
        Command::Scheduler(args) => runtime.block_on(scheduler(args)),
        Command::Simulate(args) => runtime.block_on(simulate(args)),
        Command::Agent(args) => runtime.block_on(agent(args)),
        Command::Images(cmd) => runtime.block_on(images(cmd)),
        Command::Reset(args) => runtime.block_on(reset(args)),
        // Normally dispatched above, before any thread exists.
        Command::Shim { args } => minato_runtime::shim::main(args),
    }
}
