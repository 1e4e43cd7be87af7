//! The pods bound to this node: one watch (field selector spec.nodeName), one worker task per
//! pod, and the helpers the workers share (sandbox settings, API lookups, exec for probes).

pub mod env;
pub mod hooks;
pub mod pid_namespace;
pub mod probes;
pub mod resources;
pub mod status;
pub mod sysctls;
pub mod volumes;
pub mod worker;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Service};
use kube::api::{Api, ListParams};
use kube::runtime::watcher::{self, Event};
use minato_runtime::ContainerState;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::Ctx;

/// Runs a command in a container for probes and hooks: (exit code, combined output).
pub type ExecFn = Arc<
    dyn Fn(Vec<String>, Duration) -> BoxFuture<'static, Result<(i32, String), String>>
        + Send
        + Sync,
>;

/// An [`ExecFn`] for one runtime container.
pub fn exec_fn(runtime: minato_runtime::Runtime, id: String) -> ExecFn {
    Arc::new(move |argv: Vec<String>, timeout: Duration| {
        let runtime = runtime.clone();
        let id = id.clone();
        async move {
            let run = async {
                let spec = minato_runtime::ExecSpec {
                    argv,
                    env: Vec::new(),
                    tty: false,
                    stdin: false,
                    cwd: None,
                };
                let mut p = runtime.exec(&id, spec).await.map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                if let Some(mut so) = p.stdout.take() {
                    let _ = so.read_to_end(&mut out).await;
                }
                if let Some(mut se) = p.stderr.take() {
                    let _ = se.read_to_end(&mut out).await;
                }
                let code = p.wait().await.map_err(|e| e.to_string())?;
                Ok((code, String::from_utf8_lossy(&out).into_owned()))
            };
            match tokio::time::timeout(timeout, run).await {
                Ok(r) => r,
                Err(_) => Err(format!("command timed out after {}s", timeout.as_secs())),
            }
        }
        .boxed()
    })
}

/// The pod's hostname: spec.hostname or the pod name, at most 63 characters.
pub fn pod_hostname(pod: &Pod) -> String {
    let h = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    h.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches(['-', '.'])
        .to_string()
}

/// resolv.conf settings by dnsPolicy (ClusterFirst needs a cluster DNS address; without one
/// the kubelet falls back to the host's settings, as here).
fn dns_config(ctx: &Ctx, pod: &Pod, spec: &PodSpec) -> minato_podnet::DnsConfig {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let host_field = |key: &str| -> Vec<String> {
        host.lines()
            .filter_map(|l| l.strip_prefix(key))
            .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    let policy = spec
        .dns_policy
        .clone()
        .unwrap_or_else(|| "ClusterFirst".into());
    let host_network = spec.host_network == Some(true);
    let cluster = match (policy.as_str(), ctx.config.cluster_dns) {
        ("ClusterFirst", Some(ip)) if !host_network => Some(ip),
        ("ClusterFirstWithHostNet", Some(ip)) => Some(ip),
        _ => None,
    };
    let mut cfg = match (policy.as_str(), cluster) {
        ("None", _) => minato_podnet::DnsConfig {
            nameservers: vec![],
            searches: vec![],
            options: vec![],
        },
        (_, Some(ip)) => {
            let d = &ctx.config.cluster_domain;
            minato_podnet::DnsConfig {
                nameservers: vec![ip.to_string()],
                searches: vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()],
                options: vec!["ndots:5".into()],
            }
        }
        _ => minato_podnet::DnsConfig {
            nameservers: host_field("nameserver"),
            searches: host_field("search"),
            options: host_field("options"),
        },
    };
    if let Some(dc) = &spec.dns_config {
        cfg.nameservers
            .extend(dc.nameservers.clone().unwrap_or_default());
        cfg.searches.extend(dc.searches.clone().unwrap_or_default());
        for o in dc.options.iter().flatten() {
            let name = o.name.clone().unwrap_or_default();
            cfg.options
                .retain(|x| x.split(':').next() != Some(name.as_str()));
            cfg.options.push(match &o.value {
                Some(v) => format!("{name}:{v}"),
                None => name,
            });
        }
    }
    cfg
}

/// What the network layer needs to make this pod's sandbox.
pub async fn sandbox_spec(ctx: &Ctx, pod: &Pod, spec: &PodSpec) -> minato_podnet::SandboxSpec {
    let mut hosts_entries: Vec<(IpAddr, Vec<String>)> = Vec::new();
    for a in spec.host_aliases.iter().flatten() {
        if let Ok(ip) = a.ip.parse() {
            hosts_entries.push((ip, a.hostnames.clone().unwrap_or_default()));
        }
    }
    let port_mappings = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let host_port = u16::try_from(p.host_port?).ok().filter(|p| *p > 0)?;
            Some(minato_podnet::PortMapping {
                host_port,
                container_port: u16::try_from(p.container_port).ok()?,
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                host_ip: p.host_ip.as_deref().and_then(|h| h.parse().ok()),
            })
        })
        .collect();
    let hostname = pod_hostname(pod);
    let fqdn = spec
        .subdomain
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(|sub| {
            format!(
                "{hostname}.{sub}.{}.svc.{}",
                pod.metadata.namespace.as_deref().unwrap_or("default"),
                ctx.config.cluster_domain
            )
        });
    // 0.0.0.0 stands for the pod's own IP (known only once the sandbox exists).
    let mut own = Vec::new();
    if let Some(f) = fqdn {
        own.push(f);
    }
    own.push(hostname.clone());
    hosts_entries.insert(0, (IpAddr::from([0, 0, 0, 0]), own));
    minato_podnet::SandboxSpec {
        pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
        pod_name: pod.metadata.name.clone().unwrap_or_default(),
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        hostname,
        host_network: spec.host_network == Some(true),
        port_mappings,
        dns: dns_config(ctx, pod, spec),
        hosts_entries,
    }
}

/// The ConfigMaps, Secrets and Services a container's environment reads.
pub async fn fetch_sources(
    client: &kube::Client,
    pod: &Pod,
    c: &Container,
) -> Result<env::Sources, String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let (cms, secrets) = env::references(c);
    let mut src = env::Sources::default();
    for name in cms {
        let data = volumes::config_map_data(client, &ns, &name).await?;
        src.config_maps.insert(
            name,
            data.map(|d| {
                d.into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                    .collect()
            }),
        );
    }
    for name in secrets {
        let data = volumes::secret_data(client, &ns, &name).await?;
        src.secrets.insert(name, data);
    }
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true)
    {
        src.services = services
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        if ns == "default" {
            src.services
                .retain(|s| s.metadata.name.as_deref() != Some("kubernetes"));
        }
    }
    let default: Api<Service> = Api::namespaced(client.clone(), "default");
    src.master_service = default.get_opt("kubernetes").await.ok().flatten();
    Ok(src)
}

/// Registry credentials from the pod's imagePullSecrets (and its ServiceAccount's).
pub async fn pull_credentials(client: &kube::Client, pod: &Pod) -> Vec<minato_images::Credential> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut names: Vec<String> = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.name)
        .collect();
    let sa_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".into());
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &ns);
    if let Ok(Some(sa)) = sas.get_opt(&sa_name).await {
        names.extend(
            sa.image_pull_secrets
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.name),
        );
    }
    let mut out = Vec::new();
    for name in names {
        if let Ok(Some(data)) = volumes::secret_data(client, &ns, &name).await {
            for key in [".dockerconfigjson", ".dockercfg"] {
                if let Some(bytes) = data.get(key) {
                    match minato_images::credentials_from_docker_config(bytes) {
                        Ok(c) => out.extend(c),
                        Err(e) => warn!(secret = %name, error = %e, "unreadable image pull secret"),
                    }
                }
            }
        }
    }
    out
}

/// Watches this node's pods and keeps one worker per pod.
pub async fn run(ctx: Arc<Ctx>) -> Result<(), crate::Error> {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.config.node_name));
    let mut stream = watcher::watcher(api, cfg).boxed();
    let mut workers: HashMap<String, watch::Sender<Option<Arc<Pod>>>> = HashMap::new();
    let mut init_seen: HashSet<String> = HashSet::new();
    let mut initialised = false;
    while let Some(ev) = stream.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                warn!(error = %e, "pod watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        match ev {
            Event::Init => init_seen.clear(),
            Event::InitApply(pod) => {
                if let Some(uid) = pod.metadata.uid.clone() {
                    init_seen.insert(uid);
                }
                dispatch(&ctx, &mut workers, pod);
            }
            Event::InitDone => {
                // Pods gone while we were not watching.
                let gone: Vec<String> = workers
                    .keys()
                    .filter(|u| !init_seen.contains(*u))
                    .cloned()
                    .collect();
                for uid in gone {
                    if let Some(tx) = workers.remove(&uid) {
                        let _ = tx.send(None);
                    }
                }
                if !initialised {
                    initialised = true;
                    let known: HashSet<String> = init_seen.clone();
                    let ctx2 = ctx.clone();
                    tokio::spawn(async move { remove_orphans(&ctx2, &known).await });
                }
            }
            Event::Apply(pod) => dispatch(&ctx, &mut workers, pod),
            Event::Delete(pod) => {
                if let Some(uid) = pod.metadata.uid.clone() {
                    if let Some(tx) = workers.remove(&uid) {
                        let _ = tx.send(None);
                    }
                }
            }
        }
        workers.retain(|_, tx| !tx.is_closed());
    }
    Err(crate::Error::WatchEnded)
}

fn dispatch(
    ctx: &Arc<Ctx>,
    workers: &mut HashMap<String, watch::Sender<Option<Arc<Pod>>>>,
    pod: Pod,
) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    let pod = Arc::new(pod);
    ctx.remember(&pod);
    if let Some(tx) = workers.get(&uid) {
        if tx.send(Some(pod.clone())).is_ok() {
            return;
        }
    }
    let (tx, rx) = watch::channel(Some(pod));
    if let Some(w) = worker::Worker::new(ctx.clone(), uid.clone(), rx) {
        workers.insert(uid, tx);
        tokio::spawn(w.run());
    }
}

/// Containers and sandboxes of pods the API server no longer has for this node: stopped and
/// removed (what the kubelet's housekeeping does after a restart).
async fn remove_orphans(ctx: &Ctx, known: &HashSet<String>) {
    if let Ok(records) = ctx.runtime.containers() {
        let mut orphans: BTreeMap<String, Vec<minato_runtime::ContainerRecord>> = BTreeMap::new();
        for r in records.into_iter().filter(|r| !known.contains(&r.pod_uid)) {
            orphans.entry(r.pod_uid.clone()).or_default().push(r);
        }
        for (uid, recs) in orphans {
            info!(pod_uid = %uid, "removing containers of a pod no longer on this node");
            for r in recs {
                if matches!(r.state, ContainerState::Running { .. }) {
                    let _ = ctx.runtime.kill(&r.id, 9);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                let _ = ctx.runtime.remove_container(&r.id).await;
            }
        }
    }
    if let Ok(sandboxes) = ctx.network.sandboxes() {
        for s in sandboxes
            .into_iter()
            .filter(|s| !known.contains(&s.pod_uid))
        {
            pid_namespace::stop(&ctx.pod_dir(&s.pod_uid));
            let _ = ctx.network.remove_sandbox(&s.pod_uid).await;
            volumes::teardown(&ctx.pod_dir(&s.pod_uid));
            let _ = std::fs::remove_dir_all(ctx.pod_dir(&s.pod_uid));
        }
    }
}
