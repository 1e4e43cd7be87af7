//! The `minato` binary: every component behind one command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
    /// Do not run the controllers in this process (run `minato controller-manager` instead).
    #[arg(long)]
    no_controllers: bool,
    /// How long a node may go without a heartbeat before it is marked Unknown and tainted
    /// (upstream's --node-monitor-grace-period), in seconds.
    #[arg(long, default_value_t = 40)]
    node_monitor_grace_period: u64,
    /// Do not run the scheduler in this process (run `minato scheduler` instead).
    #[arg(long)]
    no_scheduler: bool,
    /// Do not run the local node agent (reserved: the node agent is not part of this build yet).
    #[arg(long)]
    no_agent: bool,
    /// Register N simulated nodes in this process (tests and benchmarks; they run no containers).
    #[arg(long, default_value_t = 0)]
    simulated_nodes: u32,
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
    config.service_cidr = args.service_cidr;
    config.node_port_range = parse_port_range(&args.node_port_range)?;
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
    let _ = args.no_agent;
    if !args.no_controllers {
        let kubeconfig = running.kubeconfig.clone();
        let mut config = minato_controllers::ControllerConfig::default();
        config.node_lifecycle.grace_period =
            std::time::Duration::from_secs(args.node_monitor_grace_period);
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
        let kubeconfig = running.kubeconfig.clone();
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
        let kubeconfig = running.kubeconfig.clone();
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

async fn kube_client(kubeconfig: &std::path::Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("cannot read kubeconfig {}", kubeconfig.display()))?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .context("the kubeconfig does not describe a usable cluster")?;
    // Named as upstream's controller manager, so managedFields and events read the same.
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static("kube-controller-manager/v1.33.0 (linux/amd64) minato"),
    ));
    kube::Client::try_from(config).context("cannot build an API client")
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
    let client = kube_client(&args.kubeconfig).await?;
    tokio::select! {
        r = minato_controllers::run_all(client) => r.context("controllers failed"),
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
    }
}
