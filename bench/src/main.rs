//! minato-bench: one workload against minato (launched here) or any Kubernetes API server.

mod podstartup;
mod raw;
mod scenarios;
mod server;
mod stats;
mod workloads;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};

use crate::raw::RawTarget;
use crate::server::Server;
use crate::stats::Section;

pub const SCENARIOS: [&str; 9] = [
    "startup",
    "apply100",
    "crud",
    "list10k",
    "watchers",
    "churn",
    "sched10",
    "sched1000",
    "podstartup",
];

/// Scenarios that launch or drive their own servers (not run on the shared API server).
const OWN_SERVER: [&str; 5] = ["startup", "churn", "sched10", "sched1000", "podstartup"];

#[derive(Parser, Clone)]
#[command(
    name = "minato-bench",
    about = "Benchmark a Kubernetes API server (minato or any other)"
)]
pub struct Args {
    /// Run against the server this kubeconfig points at.
    #[arg(long, conflicts_with = "minato_bin")]
    pub kubeconfig: Option<PathBuf>,
    /// Launch fresh minato servers from this binary (temp data dir, random loopback port).
    #[arg(long)]
    pub minato_bin: Option<PathBuf>,
    /// Also run the scenarios against this server and print our/baseline ratios.
    #[arg(long)]
    pub baseline_kubeconfig: Option<PathBuf>,
    /// Comma-separated: startup, apply100, crud, list10k, watchers, churn, sched10, sched1000,
    /// podstartup, or all.
    #[arg(long, default_value = "all")]
    pub scenarios: String,
    /// Print machine-readable figures on stdout (the readable report goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Allow servers that are not on a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Keep the benchmark's namespaces and objects afterwards (external servers).
    #[arg(long)]
    pub keep: bool,

    /// startup: launches on fresh data dirs.
    #[arg(long, default_value_t = 5)]
    pub startup_runs: usize,
    /// apply100: Deployments in the applied file.
    #[arg(long, default_value_t = 100)]
    pub apply_count: usize,
    /// apply100: kubectl binary.
    #[arg(long, default_value = "kubectl")]
    pub kubectl: PathBuf,
    /// apply100: kubectl --validate: auto (false only when the server serves no OpenAPI), true, false.
    #[arg(long, default_value = "auto")]
    pub apply_validate: String,
    /// crud: operations of each kind per concurrency level.
    #[arg(long, default_value_t = 2000)]
    pub crud_ops: usize,
    /// crud: concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub crud_clients: Vec<usize>,
    /// list10k: ConfigMaps to create.
    #[arg(long, default_value_t = 10_000)]
    pub list_count: usize,
    /// list10k: page size of the paged LIST.
    #[arg(long, default_value_t = 500)]
    pub list_page: usize,
    /// list10k and churn: concurrent writers while creating.
    #[arg(long, default_value_t = 32)]
    pub create_concurrency: usize,
    /// watchers: concurrent watches.
    #[arg(long, default_value_t = 1000)]
    pub watchers: usize,
    /// watchers: watch streams per HTTP/2 connection.
    #[arg(long, default_value_t = 100)]
    pub streams_per_conn: usize,
    /// churn: updates in total.
    #[arg(long, default_value_t = 20_000)]
    pub churn_updates: usize,
    /// churn: ConfigMaps updated.
    #[arg(long, default_value_t = 100)]
    pub churn_objects: usize,
    /// churn: how long to watch the store size afterwards (the store keeps 5 min of history and
    /// compacts every 60 s by default, so less than ~6 min shows no compaction).
    #[arg(long, default_value_t = 400)]
    pub churn_wait_secs: u64,

    /// sched1000: simulated nodes.
    #[arg(long, default_value_t = 1000)]
    pub sched_nodes: u32,
    /// sched1000: Deployments created at once.
    #[arg(long, default_value_t = 100)]
    pub sched_deployments: usize,
    /// sched1000: replicas per Deployment.
    #[arg(long, default_value_t = 100)]
    pub sched_replicas: i32,
    /// sched10, sched1000: give up waiting for pods after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub sched_timeout_secs: u64,
    /// sched10, sched1000 with --kubeconfig: the minato binary whose `simulate` registers
    /// the simulated nodes.
    #[arg(long, default_value = "minato")]
    pub simulator_bin: PathBuf,
    /// podstartup: pods created at once.
    #[arg(long, default_value_t = 50)]
    pub pod_count: usize,
    /// podstartup: give up waiting for pods after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub pod_timeout_secs: u64,
    /// podstartup: seconds over which idle and busy CPU use are measured.
    #[arg(long, default_value_t = 5)]
    pub idle_window_secs: u64,
    /// podstartup: skip the `podman kube play` baseline.
    #[arg(long)]
    pub no_podman: bool,
    /// podstartup: run the node agent inside the server process (plain `minato server`)
    /// instead of as a `minato agent` process of its own; the agent's own RSS and CPU are then
    /// not measurable apart from the control plane's.
    #[arg(long)]
    pub embedded_agent: bool,
}

/// A server the API scenarios run against.
pub struct Target {
    pub label: String,
    pub kubeconfig: PathBuf,
    pub client: kube::Client,
    pub raw: std::sync::Arc<RawTarget>,
}

impl Target {
    pub async fn open(label: &str, kubeconfig: &Path, allow_remote: bool) -> Result<Target> {
        let raw = RawTarget::from_kubeconfig(kubeconfig)?;
        if !allow_remote && !raw::is_loopback(&raw.host) {
            bail!(
                "{} points at {}, not loopback; pass --allow-remote to run there",
                kubeconfig.display(),
                raw.host
            );
        }
        let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
        let mut cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await?;
        // Long lists of 10,000 objects on a debug build can take a while.
        cfg.read_timeout = Some(std::time::Duration::from_secs(300));
        // kube's client has no client-side rate limiter (unlike client-go's QPS 5 / burst 10).
        let client = kube::Client::try_from(cfg)?;
        Ok(Target {
            label: label.to_string(),
            kubeconfig: kubeconfig.to_path_buf(),
            client,
            raw: std::sync::Arc::new(raw),
        })
    }
}

fn selected(args: &Args) -> Result<Vec<&'static str>> {
    let want: Vec<&str> = args.scenarios.split(',').map(str::trim).collect();
    if want.contains(&"all") {
        return Ok(SCENARIOS.to_vec());
    }
    for w in &want {
        if !SCENARIOS.contains(w) {
            bail!("unknown scenario {w:?}; choose from {SCENARIOS:?} or all");
        }
    }
    Ok(SCENARIOS
        .iter()
        .copied()
        .filter(|s| want.contains(s))
        .collect())
}

fn say(s: &str) {
    eprintln!("[minato-bench] {s}");
}

/// Runs one API scenario against a target.
async fn run_api(name: &str, args: &Args, t: &Target) -> Result<Section> {
    say(&format!("{name} on {}", t.label));
    match name {
        "apply100" => scenarios::apply(args, t).await,
        "crud" => scenarios::crud(args, t).await,
        "list10k" => scenarios::list10k(args, t).await,
        "watchers" => scenarios::watchers(args, t).await,
        _ => bail!("not an API scenario: {name}"),
    }
}

async fn run(args: Args) -> Result<()> {
    let names = selected(&args)?;
    let load_start = loadavg();
    let bin = args.minato_bin.clone();
    if bin.is_none() && args.kubeconfig.is_none() {
        bail!("give --kubeconfig FILE or --minato-bin PATH");
    }
    let mut results: Vec<(String, String, Section)> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();

    if names.contains(&"startup") {
        match &bin {
            Some(b) => {
                say("startup");
                results.push((
                    "startup".into(),
                    "minato".into(),
                    scenarios::startup(&args, b).await?,
                ));
            }
            None => skipped.push("startup (needs --minato-bin)".into()),
        }
    }

    let api: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !OWN_SERVER.contains(n))
        .collect();
    if !api.is_empty() {
        // Launch one fresh server for all API scenarios, or use the given kubeconfig.
        let server = match &bin {
            Some(b) => Some(Server::launch(b).await?),
            None => None,
        };
        let (label, kc) = match (&server, &args.kubeconfig) {
            (Some(s), _) => ("minato".to_string(), s.kubeconfig.clone()),
            (None, Some(k)) => ("target".to_string(), k.clone()),
            (None, None) => unreachable!("checked above"),
        };
        let target = Target::open(&label, &kc, args.allow_remote).await?;
        let baseline = match &args.baseline_kubeconfig {
            Some(g) => Some(Target::open("baseline", g, args.allow_remote).await?),
            None => None,
        };
        for name in &api {
            let sec = run_api(name, &args, &target).await;
            match sec {
                Ok(s) => results.push((name.to_string(), label.clone(), s)),
                Err(e) => {
                    say(&format!("{name} failed on {label}: {e:#}"));
                    let mut s = Section::default();
                    s.line(format!("FAILED: {e:#}"));
                    s.set("error", json!(format!("{e:#}")));
                    results.push((name.to_string(), label.clone(), s));
                }
            }
            if let Some(b) = &baseline {
                let sec = run_api(name, &args, b).await.unwrap_or_else(|e| {
                    let mut s = Section::default();
                    s.line(format!("FAILED: {e:#}"));
                    s.set("error", json!(format!("{e:#}")));
                    s
                });
                results.push((name.to_string(), "baseline".into(), sec));
            }
        }
        // A launched server is thrown away whole; external servers get their objects deleted.
        if !args.keep {
            if server.is_none() {
                scenarios::cleanup(&target).await;
            }
            if let Some(b) = &baseline {
                scenarios::cleanup(b).await;
            }
        }
        if let Some(s) = server {
            if let Ok(rss) = s.rss_bytes() {
                say(&format!(
                    "server RSS after API scenarios: {} MB",
                    stats::mb(rss)
                ));
            }
            s.stop();
        }
    }

    if names.contains(&"churn") {
        match &bin {
            Some(b) => {
                say("churn (fresh server)");
                let s = scenarios::churn(&args, b).await.unwrap_or_else(|e| {
                    let mut s = Section::default();
                    s.line(format!("FAILED: {e:#}"));
                    s.set("error", json!(format!("{e:#}")));
                    s
                });
                results.push(("churn".into(), "minato".into(), s));
            }
            None => skipped.push("churn (needs --minato-bin to see the store)".into()),
        }
    }

    for name in ["sched10", "sched1000"] {
        if !names.contains(&name) {
            continue;
        }
        let Some(size) = workloads::sched_size(name, &args) else {
            continue;
        };
        let label = if bin.is_some() { "minato" } else { "target" };
        say(&format!("{name} on {label}"));
        let sec = workloads::sched(
            &args,
            &size,
            bin.as_deref(),
            args.kubeconfig.as_deref(),
            label,
        )
        .await
        .unwrap_or_else(failed);
        results.push((name.into(), label.into(), sec));
        if let Some(b) = &args.baseline_kubeconfig {
            say(&format!("{name} on baseline"));
            let sec = workloads::sched(&args, &size, None, Some(b), "baseline")
                .await
                .unwrap_or_else(failed);
            results.push((name.into(), "baseline".into(), sec));
        }
    }

    if names.contains(&"podstartup") {
        if bin.is_some() {
            say("podstartup (server with its node agent)");
            let sec = podstartup::podstartup(&args).await.unwrap_or_else(failed);
            results.push(("podstartup".into(), "minato".into(), sec));
            if args.no_podman {
                skipped.push("podstartup podman baseline (--no-podman)".into());
            } else {
                say("podstartup baseline: podman kube play");
                let sec = podstartup::podman_baseline(&args)
                    .await
                    .unwrap_or_else(|e| {
                        let mut s = failed(e);
                        s.line("podman could not run here, so only minato's figures are shown");
                        s
                    });
                results.push(("podstartup".into(), "baseline".into(), sec));
            }
        } else {
            skipped.push(
                "podstartup (needs --minato-bin: it starts a server with its node agent)".into(),
            );
        }
    }

    let host = format!(
        "host: {} CPUs; load average (1 min) {} at start, {} at end (other work on the host skews figures)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_start,
        loadavg()
    );
    print_report(&args, &host, &results, &skipped)
}

/// A section that says the scenario failed, and why.
fn failed(e: anyhow::Error) -> Section {
    say(&format!("failed: {e:#}"));
    let mut s = Section::default();
    s.line(format!("FAILED: {e:#}"));
    s.set("error", json!(format!("{e:#}")));
    s
}

/// The 1-minute load average, to judge how noisy the host was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn print_report(
    args: &Args,
    host: &str,
    results: &[(String, String, Section)],
    skipped: &[String],
) -> Result<()> {
    let mut out = String::new();
    out.push_str("\n=== minato-bench report ===\n");
    out.push_str(&format!("{host}\n"));
    for (name, label, sec) in results {
        out.push_str(&format!("\n[{name}] on {label}\n"));
        for l in &sec.lines {
            out.push_str(&format!("  {l}\n"));
        }
    }
    // our/baseline ratios for figures measured on both in this run.
    let mut ratios = Vec::new();
    for (name, label, ours) in results.iter().filter(|r| r.1 != "baseline") {
        let Some((_, _, base)) = results.iter().find(|r| &r.0 == name && r.1 == "baseline") else {
            continue;
        };
        for f in &ours.figures {
            if let Some(b) = base.figures.iter().find(|b| b.name == f.name) {
                if b.value > 0.0 {
                    let r = f.value / b.value;
                    out.push_str(&format!(
                        "  ratio {name}/{}: {label} {:.3} {} / baseline {:.3} {} = {:.2}x\n",
                        f.name, f.value, f.unit, b.value, b.unit, r
                    ));
                    ratios.push(json!({"scenario": name, "figure": f.name, "ours": f.value,
                                        "baseline": b.value, "unit": f.unit, "ratio": r}));
                }
            }
        }
    }
    if !skipped.is_empty() {
        out.push_str(&format!("\nskipped: {}\n", skipped.join(", ")));
    }
    if args.json {
        eprint!("{out}");
        let mut scen = serde_json::Map::new();
        for (name, label, sec) in results {
            let entry = scen
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(m) = entry {
                m.insert(label.clone(), Value::Object(sec.json.clone()));
            }
        }
        let doc = json!({"host": host, "scenarios": scen, "ratios": ratios, "skipped": skipped});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{out}");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    // kube's rustls feature brings no crypto provider of its own; use ring, as the server does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run(args))
}
