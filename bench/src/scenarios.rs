//! The scenarios: each returns a Section (readable lines, JSON, comparable figures).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::server::Server;
use crate::stats::{mb, ms, Section, Summary};
use crate::{Args, Target};

const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const MANAGED_SEL: &str = "app.kubernetes.io/managed-by=minato-bench";
const KINDS: [&str; 4] = ["apply", "crud", "list", "watch"];

/// A per-run suffix so reruns against a kept server do not collide.
pub(crate) fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!("{:x}", secs & 0xff_ffff)
    })
}

fn ns_name(kind: &str) -> String {
    format!("minato-bench-{kind}-{}", run_id())
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

async fn ensure_ns(client: &kube::Client, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: meta(name, &[]),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(e) if is_conflict(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create namespace {name}")),
    }
}

fn meta(name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    let mut l: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.insert(MANAGED_BY.into(), "minato-bench".into());
    ObjectMeta {
        name: Some(name.to_string()),
        labels: Some(l),
        ..Default::default()
    }
}

fn configmap(name: &str, labels: &[(&str, &str)], value: &str) -> ConfigMap {
    ConfigMap {
        metadata: meta(name, labels),
        data: Some(BTreeMap::from([("key".to_string(), value.to_string())])),
        ..Default::default()
    }
}

/// Latencies of successful operations, errors and wall time of one concurrent phase.
struct Phase {
    wall: Duration,
    lat: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.lat.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    fn text(&self, op: &str) -> String {
        let mut s = format!(
            "{op:<7} {:>8.0} ops/s  {}",
            self.rate(),
            Summary::of(&self.lat).text()
        );
        if self.errors > 0 {
            s.push_str(&format!(
                "  ERRORS {} (first: {})",
                self.errors,
                self.first_error.as_deref().unwrap_or("")
            ));
        }
        s
    }

    fn json(&self) -> Value {
        let mut v = Summary::of(&self.lat).json();
        v["ops_per_s"] = json!((self.rate() * 10.0).round() / 10.0);
        v["wall_ms"] = json!(ms(self.wall));
        v["errors"] = json!(self.errors);
        if let Some(e) = &self.first_error {
            v["first_error"] = json!(e);
        }
        v
    }
}

/// Runs ops 0..n on `clients` tasks (task c does ops c, c+clients, ...), timing each one.
async fn phase<F, Fut>(clients: usize, n: usize, f: F) -> Phase
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let f = Arc::new(f);
    let clients = clients.max(1);
    let start = Instant::now();
    let mut set = JoinSet::new();
    for c in 0..clients {
        let f = f.clone();
        set.spawn(async move {
            let (mut lat, mut errors, mut first) = (Vec::new(), 0usize, None::<String>);
            for i in (c..n).step_by(clients) {
                let t = Instant::now();
                match f(i).await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            (lat, errors, first)
        });
    }
    let mut out = Phase {
        wall: Duration::ZERO,
        lat: Vec::with_capacity(n),
        errors: 0,
        first_error: None,
    };
    while let Some(r) = set.join_next().await {
        match r {
            Ok((lat, errors, first)) => {
                out.lat.extend(lat);
                out.errors += errors;
                if out.first_error.is_none() {
                    out.first_error = first;
                }
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    out.wall = start.elapsed();
    out
}

// ---------------------------------------------------------------- startup

pub async fn startup(args: &Args, bin: &Path) -> Result<Section> {
    let mut sec = Section::default();
    // Idle RSS of the API server alone (what upstream's kube-apiserver figure measures) and of
    // the control plane `minato server --no-agent` runs (API server, controllers, scheduler).
    let api_only = ["--no-agent", "--no-controllers", "--no-scheduler"];
    let (mut ready, mut rss, mut rss_cp) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..args.startup_runs.max(1) {
        let s = Server::launch_with(bin, None, &api_only).await?;
        ready.push(s.ready_after);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let r = s.rss_bytes()?;
        rss.push(r);
        s.stop();
        let s = Server::launch(bin).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let r_cp = s.rss_bytes()?;
        rss_cp.push(r_cp);
        s.stop();
        crate::say(&format!(
            "  run {}: ready {:.1} ms, idle RSS {} MB (API server alone), {} MB (control plane)",
            i + 1,
            ms(*ready.last().unwrap_or(&Duration::ZERO)),
            mb(r),
            mb(r_cp)
        ));
    }
    let sum = Summary::of(&ready);
    let p50 = |v: &mut Vec<u64>| {
        v.sort();
        v[(v.len() - 1) / 2]
    };
    let rss_p50 = p50(&mut rss);
    let rss_cp_p50 = p50(&mut rss_cp);
    sec.line(format!(
        "launch -> /readyz ok (fresh data dir, {} runs): {}",
        ready.len(),
        sum.text()
    ));
    sec.line(format!(
        "  target <= 300 ms: {}; upstream control plane reference ~3 s",
        verdict(ms(sum.p50) <= 300.0)
    ));
    sec.line(format!(
        "idle RSS (ready + 2 s), API server alone (--no-controllers --no-scheduler --no-agent): p50 {} MB (min {} MB, max {} MB)",
        mb(rss_p50),
        mb(rss[0]),
        mb(*rss.last().unwrap_or(&0))
    ));
    sec.line(format!(
        "  target <= 30 MB: {}; upstream kube-apiserver alone ~235 MB",
        verdict(mb(rss_p50) <= 30.0)
    ));
    sec.line(format!(
        "idle RSS (ready + 2 s), control plane (API server + controllers + scheduler, --no-agent): p50 {} MB (min {} MB, max {} MB); upstream kube-apiserver with etcd alone ~280 MB",
        mb(rss_cp_p50),
        mb(rss_cp[0]),
        mb(*rss_cp.last().unwrap_or(&0))
    ));
    sec.set("ready", sum.json());
    sec.set(
        "ready_runs_ms",
        json!(ready.iter().map(|d| ms(*d)).collect::<Vec<_>>()),
    );
    sec.set("idle_rss_mb_p50", json!(mb(rss_p50)));
    sec.set(
        "idle_rss_mb_runs",
        json!(rss.iter().map(|b| mb(*b)).collect::<Vec<_>>()),
    );
    sec.set("control_plane_idle_rss_mb_p50", json!(mb(rss_cp_p50)));
    sec.set("targets", json!({"ready_ms": 300, "idle_rss_mb": 30}));
    sec.set(
        "upstream_reference",
        json!({"ready_s": 3.0, "kube_apiserver_idle_rss_mb": 235, "with_etcd_mb": 280}),
    );
    Ok(sec)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

// ---------------------------------------------------------------- apply100

fn deployments_yaml(ns: &str, n: usize) -> String {
    let mut y = String::new();
    for i in 0..n {
        y.push_str(&format!(
            "---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench-{i:03}
  namespace: {ns}
  labels:
    {MANAGED_BY}: minato-bench
spec:
  replicas: 1
  selector:
    matchLabels:
      app: bench-{i:03}
  template:
    metadata:
      labels:
        app: bench-{i:03}
    spec:
      containers:
      - name: app
        image: registry.k8s.io/pause:3.10
        ports:
        - containerPort: 8080
        resources:
          requests:
            cpu: 10m
            memory: 16Mi
"
        ));
    }
    y
}

/// Whether the server serves OpenAPI (kubectl's client-side validation needs it).
async fn serves_openapi(client: &kube::Client) -> bool {
    for p in ["/openapi/v3", "/openapi/v2"] {
        if let Ok(req) = http::Request::get(p).body(Vec::new()) {
            if client.request_text(req).await.is_ok() {
                return true;
            }
        }
    }
    false
}

struct KubectlRun {
    took: Duration,
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn kubectl_apply(
    args: &Args,
    kc: &Path,
    cache: &Path,
    file: &Path,
    validate_off: bool,
) -> Result<KubectlRun> {
    let mut cmd = tokio::process::Command::new(&args.kubectl);
    cmd.arg("--kubeconfig")
        .arg(kc)
        .arg("--cache-dir")
        .arg(cache)
        .args(["apply", "--server-side=false", "-f"])
        .arg(file);
    if validate_off {
        cmd.arg("--validate=false");
    }
    cmd.kill_on_drop(true);
    let t = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .context("kubectl apply took over 300 s")?
        .with_context(|| format!("cannot run {}", args.kubectl.display()))?;
    Ok(KubectlRun {
        took: t.elapsed(),
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

pub async fn apply(args: &Args, t: &Target) -> Result<Section> {
    let mut sec = Section::default();
    let ns = ns_name("apply");
    ensure_ns(&t.client, &ns).await?;
    let dir = tempfile::Builder::new()
        .prefix("minato-bench-apply-")
        .tempdir()?;
    let file = dir.path().join("deployments.yaml");
    std::fs::write(&file, deployments_yaml(&ns, args.apply_count))?;
    let cache = dir.path().join("kube-cache");
    let openapi = serves_openapi(&t.client).await;
    let validate_off = match args.apply_validate.as_str() {
        "true" => false,
        "false" => true,
        _ => !openapi,
    };
    sec.line(format!(
        "{} Deployments in one file; kubectl apply --server-side=false{}",
        args.apply_count,
        if validate_off {
            " --validate=false"
        } else {
            ""
        }
    ));
    if validate_off && !openapi {
        sec.line("  (--validate=false because the server serves no /openapi/v3 or /openapi/v2)");
    }
    // Warm a fresh discovery cache first (timed apart), so the applies measure the writes.
    let t_disc = Instant::now();
    let disc = tokio::process::Command::new(&args.kubectl)
        .arg("--kubeconfig")
        .arg(&t.kubeconfig)
        .arg("--cache-dir")
        .arg(&cache)
        .arg("api-resources")
        .kill_on_drop(true)
        .output();
    let disc_ok = matches!(
        tokio::time::timeout(Duration::from_secs(120), disc).await,
        Ok(Ok(o)) if o.status.success()
    );
    let disc_took = t_disc.elapsed();
    sec.line(format!(
        "discovery warm-up (kubectl api-resources, fresh cache): {:.3} s{}",
        disc_took.as_secs_f64(),
        if disc_ok { "" } else { " (FAILED)" }
    ));
    sec.set("discovery_warmup_s", json!(disc_took.as_secs_f64()));
    let mut runs = Vec::new();
    for (label, word) in [("first", "created"), ("unchanged", "unchanged")] {
        let r = kubectl_apply(args, &t.kubeconfig, &cache, &file, validate_off).await?;
        let hits = r.stdout.lines().filter(|l| l.ends_with(word)).count();
        if !r.ok {
            let err: String = r.stderr.lines().take(5).collect::<Vec<_>>().join(" | ");
            sec.line(format!(
                "{label:<9} FAILED after {:.3} s: {err}",
                r.took.as_secs_f64()
            ));
        } else {
            sec.line(format!(
                "{label:<9} {:.3} s  ({hits}/{} reported {word})",
                r.took.as_secs_f64(),
                args.apply_count
            ));
        }
        sec.figure(format!("{label} apply"), r.took.as_secs_f64(), "s");
        runs.push(
            json!({"run": label, "seconds": r.took.as_secs_f64(), "ok": r.ok,
                          word: hits, "stderr_head": r.stderr.lines().take(5).collect::<Vec<_>>()}),
        );
    }
    let api: Api<Deployment> = Api::namespaced(t.client.clone(), &ns);
    let stored = api
        .list_metadata(&ListParams::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or(0);
    sec.line(format!(
        "deployments stored afterwards: {stored}; target <= 1 s; upstream reference 1.9-3.8 s"
    ));
    if let Some(first) = runs.first().and_then(|r| r["seconds"].as_f64()) {
        sec.line(format!(
            "  first run / 1.9 s upstream reference = {:.2}x (fixed reference, not same-run)",
            first / 1.9
        ));
    }
    sec.set("runs", json!(runs));
    sec.set("validate_false", json!(validate_off));
    sec.set("server_serves_openapi", json!(openapi));
    sec.set("stored", json!(stored));
    sec.set("target_s", json!(1.0));
    sec.set("upstream_reference_s", json!([1.9, 3.8]));
    Ok(sec)
}

// ---------------------------------------------------------------- crud

fn index_of(name: &str) -> Option<usize> {
    name.rsplit('-').next()?.parse().ok()
}

pub async fn crud(args: &Args, t: &Target) -> Result<Section> {
    let mut sec = Section::default();
    let ns = ns_name("crud");
    ensure_ns(&t.client, &ns).await?;
    let api: Api<ConfigMap> = Api::namespaced(t.client.clone(), &ns);
    let n = args.crud_ops.max(1);
    sec.line(format!(
        "ConfigMaps; {n} ops of each kind per level; one kube::Client shared by all tasks \
         (HTTP/1.1 pool, so up to one connection per client); no client-side rate limit"
    ));
    sec.line(
        "list = first page (limit=100) of the level's objects; watch = min(clients, 8) watches \
         during the update phase, latency from update sent to event received",
    );
    let mut levels = Vec::new();
    for &c in &args.crud_clients {
        let level = format!("l{c}");
        let objs: Arc<Vec<Mutex<Option<ConfigMap>>>> =
            Arc::new((0..n).map(|_| Mutex::new(None)).collect());
        let name = {
            let level = level.clone();
            Arc::new(move |i: usize| format!("crud-{level}-{i}"))
        };
        let sel = format!("bench-level={level}");

        let create = {
            let (api, objs, name, level) = (api.clone(), objs.clone(), name.clone(), level.clone());
            phase(c, n, move |i| {
                let (api, objs) = (api.clone(), objs.clone());
                let cm = configmap(&name(i), &[("bench-level", &level)], "v0");
                async move {
                    let o = api.create(&PostParams::default(), &cm).await?;
                    if let Ok(mut slot) = objs[i].lock() {
                        *slot = Some(o);
                    }
                    Ok(())
                }
            })
            .await
        };
        let get = {
            let (api, name) = (api.clone(), name.clone());
            phase(c, n, move |i| {
                let (api, nm) = (api.clone(), name(i));
                async move {
                    api.get(&nm).await?;
                    Ok(())
                }
            })
            .await
        };

        // Watches from the current revision, so they see exactly the updates.
        let rv = api
            .list_metadata(&ListParams::default().labels(&sel).limit(1))
            .await?
            .metadata
            .resource_version
            .unwrap_or_default();
        let sent: Arc<Vec<OnceLock<Instant>>> = Arc::new((0..n).map(|_| OnceLock::new()).collect());
        let n_watch = c.clamp(1, 8);
        let mut watchers = JoinSet::new();
        for _ in 0..n_watch {
            let stream = api
                .watch(&WatchParams::default().labels(&sel).timeout(290), &rv)
                .await?;
            let sent = sent.clone();
            watchers.spawn(async move {
                let mut stream = Box::pin(stream);
                let mut lat = Vec::new();
                while lat.len() < n {
                    match stream.next().await {
                        Some(Ok(WatchEvent::Modified(o))) => {
                            let at = Instant::now();
                            let idx = o.metadata.name.as_deref().and_then(index_of);
                            if let Some(s) = idx.and_then(|i| sent.get(i)).and_then(|s| s.get()) {
                                lat.push(at.saturating_duration_since(*s));
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break,
                    }
                }
                (lat, Instant::now())
            });
        }
        let update = {
            let (api, objs, name, sent) = (api.clone(), objs.clone(), name.clone(), sent.clone());
            phase(c, n, move |i| {
                let (api, nm) = (api.clone(), name(i));
                let obj = objs[i].lock().ok().and_then(|mut s| s.take());
                let sent = sent.clone();
                async move {
                    let mut o = obj.context("no object from the create phase")?;
                    o.data = Some(BTreeMap::from([("key".to_string(), "v1".to_string())]));
                    let _ = sent[i].set(Instant::now());
                    api.replace(&nm, &PostParams::default(), &o).await?;
                    Ok(())
                }
            })
            .await
        };
        let first_sent = sent.iter().filter_map(|s| s.get()).min().copied();
        let mut watch_lat = Vec::new();
        let mut last_event = None::<Instant>;
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Ok(Some(r)) = tokio::time::timeout_at(deadline.into(), watchers.join_next()).await
        {
            if let Ok((lat, end)) = r {
                watch_lat.extend(lat);
                last_event = Some(last_event.map_or(end, |l: Instant| l.max(end)));
            }
        }
        watchers.abort_all();
        let expected = n_watch * update.lat.len();
        let watch_rate = match (first_sent, last_event) {
            (Some(a), Some(b)) if b > a => watch_lat.len() as f64 / (b - a).as_secs_f64(),
            _ => 0.0,
        };

        let lists = (n / 10).max(1);
        let list = {
            let (api, sel) = (api.clone(), sel.clone());
            phase(c, lists, move |_| {
                let (api, lp) = (api.clone(), ListParams::default().labels(&sel).limit(100));
                async move {
                    api.list(&lp).await?;
                    Ok(())
                }
            })
            .await
        };
        let delete = {
            let (api, name) = (api.clone(), name.clone());
            phase(c, n, move |i| {
                let (api, nm) = (api.clone(), name(i));
                async move {
                    api.delete(&nm, &DeleteParams::default()).await?;
                    Ok(())
                }
            })
            .await
        };

        let mut mutating = create.lat.clone();
        mutating.extend(&update.lat);
        mutating.extend(&delete.lat);
        let mutating = Summary::of(&mutating);
        let wsum = Summary::of(&watch_lat);
        sec.line(format!("{c} client(s):"));
        for (op, p) in [
            ("create", &create),
            ("get", &get),
            ("update", &update),
            ("list", &list),
            ("delete", &delete),
        ] {
            sec.line(format!("  {}", p.text(op)));
            sec.figure(format!("c{c} {op} p50"), ms(Summary::of(&p.lat).p50), "ms");
            sec.figure(format!("c{c} {op} p99"), ms(Summary::of(&p.lat).p99), "ms");
        }
        sec.line(format!(
            "  watch   {:>8.0} events/s  {}  ({} watches, {}/{} events)",
            watch_rate,
            wsum.text(),
            n_watch,
            watch_lat.len(),
            expected
        ));
        sec.line(format!(
            "  mutating (create+update+delete) {}",
            mutating.text()
        ));
        if c == 8 {
            sec.line(format!(
                "  target mutating p99 <= 10 ms at 8 clients: {} ({:.2} ms)",
                verdict(ms(mutating.p99) <= 10.0),
                ms(mutating.p99)
            ));
        }
        sec.figure(format!("c{c} mutating p99"), ms(mutating.p99), "ms");
        levels.push(json!({
            "clients": c,
            "create": create.json(), "get": get.json(), "update": update.json(),
            "list": list.json(), "delete": delete.json(),
            "watch": {"watches": n_watch, "events": watch_lat.len(), "expected": expected,
                      "events_per_s": (watch_rate * 10.0).round() / 10.0, "latency": wsum.json()},
            "mutating": mutating.json(),
        }));
    }
    sec.set("levels", json!(levels));
    sec.set(
        "client",
        json!("one shared kube::Client (HTTP/1.1 pool), no rate limit"),
    );
    sec.set("mutating_p99_target_ms_at_8", json!(10));
    Ok(sec)
}

// ---------------------------------------------------------------- list10k

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

pub async fn list10k(args: &Args, t: &Target) -> Result<Section> {
    let mut sec = Section::default();
    let ns = ns_name("list");
    ensure_ns(&t.client, &ns).await?;
    let api: Api<ConfigMap> = Api::namespaced(t.client.clone(), &ns);
    let n = args.list_count;
    let create = {
        let api = api.clone();
        phase(args.create_concurrency, n, move |i| {
            let api = api.clone();
            let cm = configmap(&format!("list-{i:05}"), &[], &format!("value-{i}"));
            async move {
                api.create(&PostParams::default(), &cm).await?;
                Ok(())
            }
        })
        .await
    };
    sec.line(format!(
        "create {n} ConfigMaps with {} concurrent writers: {:.1} s, {}",
        args.create_concurrency,
        create.wall.as_secs_f64(),
        create.text("create")
    ));
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    let get = |p: String| {
        let client = t.client.clone();
        async move {
            let req = http::Request::get(p).body(Vec::new())?;
            let t0 = Instant::now();
            let body = client.request_text(req).await?;
            anyhow::Ok((t0.elapsed(), body))
        }
    };
    let mut full = Vec::new();
    let (mut bytes, mut items) = (0usize, 0usize);
    for i in 0..3 {
        let (d, body) = get(path.clone()).await?;
        if i == 0 {
            bytes = body.len();
            let v: Value = serde_json::from_str(&body).context("LIST answer is not JSON")?;
            items = v["items"].as_array().map_or(0, Vec::len);
        }
        full.push(d);
    }
    let fs = Summary::of(&full);
    sec.line(format!(
        "full LIST x{}: p50 {:.1} ms (min {:.1}, max {:.1}); {} items, {:.2} MB",
        full.len(),
        ms(fs.p50),
        ms(fs.min),
        ms(fs.max),
        items,
        mb(bytes as u64)
    ));
    // Paged LIST, following continue tokens; bounded by the expected page count.
    let t0 = Instant::now();
    let (mut pages, mut pbytes, mut pitems) = (Vec::new(), 0usize, 0usize);
    let mut cont = String::new();
    let max_pages = n / args.list_page.max(1) + 10;
    while pages.len() < max_pages {
        let mut p = format!("{path}?limit={}", args.list_page);
        if !cont.is_empty() {
            p.push_str(&format!("&continue={}", enc(&cont)));
        }
        let (d, body) = get(p).await?;
        pages.push(d);
        pbytes += body.len();
        let v: Value = serde_json::from_str(&body).context("LIST page is not JSON")?;
        pitems += v["items"].as_array().map_or(0, Vec::len);
        cont = v["metadata"]["continue"].as_str().unwrap_or("").to_string();
        if cont.is_empty() {
            break;
        }
    }
    let paged_total = t0.elapsed();
    let ps = Summary::of(&pages);
    sec.line(format!(
        "paged LIST limit={}: {} pages, {:.1} ms total (incl. client JSON parse), {} items, {:.2} MB; per page {}",
        args.list_page,
        pages.len(),
        ms(paged_total),
        pitems,
        mb(pbytes as u64),
        ps.text()
    ));
    if items != n || pitems != n {
        sec.line(format!(
            "  NOTE: expected {n} items (full list had {items}, paged {pitems})"
        ));
    }
    sec.figure("full list p50", ms(fs.p50), "ms");
    sec.figure("paged list total", ms(paged_total), "ms");
    sec.figure("create throughput", create.rate(), "ops/s");
    sec.set("create", create.json());
    sec.set(
        "full",
        json!({"latency": fs.json(), "bytes": bytes, "items": items}),
    );
    sec.set(
        "paged",
        json!({"limit": args.list_page, "pages": pages.len(), "total_ms": ms(paged_total),
                             "per_page": ps.json(), "bytes": pbytes, "items": pitems}),
    );
    Ok(sec)
}

// ---------------------------------------------------------------- watchers

/// Reads a watch stream until an event for `name` arrives.
async fn await_event(mut body: hyper::body::Incoming, name: &str) -> Result<Instant> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let frame = body.frame().await.context("watch ended")??;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                if v["object"]["metadata"]["name"] == name {
                    return Ok(Instant::now());
                }
            }
        }
    }
}

pub async fn watchers(args: &Args, t: &Target) -> Result<Section> {
    let mut sec = Section::default();
    let ns = ns_name("watch");
    ensure_ns(&t.client, &ns).await?;
    let api: Api<ConfigMap> = Api::namespaced(t.client.clone(), &ns);
    let rv = api
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let w = args.watchers.max(1);
    let per = args.streams_per_conn.max(1);
    let first = t.raw.connect().await?;
    let h2 = first.is_h2();
    let mut conns = vec![first];
    if h2 {
        while conns.len() * per < w {
            conns.push(t.raw.connect().await?);
        }
    }
    let name = format!("ping-{}", run_id());
    let path = format!(
        "/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=300"
    );
    let setup = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<(), String>>();
    let mut set = JoinSet::new();
    let raw = t.raw.clone();
    for i in 0..w {
        let shared = if h2 { conns[i / per].share() } else { None };
        let (raw, path, name, tx) = (raw.clone(), path.clone(), name.clone(), tx.clone());
        set.spawn(async move {
            let opened = async {
                let mut conn = match shared {
                    Some(c) => c,
                    None => raw.connect().await?,
                };
                let resp = raw.get(&mut conn, &path).await?;
                if !resp.status().is_success() {
                    bail!("watch answered {}", resp.status());
                }
                anyhow::Ok((conn, resp))
            }
            .await;
            match opened {
                Ok((conn, resp)) => {
                    let _ = tx.send(Ok(()));
                    let r = await_event(resp.into_body(), &name).await;
                    drop(conn);
                    r
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("{e:#}")));
                    Err(e)
                }
            }
        });
    }
    drop(tx);
    let (mut ready, mut failed, mut first_err) = (0usize, 0usize, None::<String>);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while ready + failed < w {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Ok(()))) => ready += 1,
            Ok(Some(Err(e))) => {
                failed += 1;
                first_err.get_or_insert(e);
            }
            _ => break,
        }
    }
    let setup_took = setup.elapsed();
    // Let the server finish registering the last watches (they replay from rv anyway).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = Instant::now();
    api.create(&PostParams::default(), &configmap(&name, &[], "ping"))
        .await?;
    let write = t0.elapsed();
    let mut lat = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while let Ok(Some(r)) = tokio::time::timeout_at(deadline, set.join_next()).await {
        match r {
            Ok(Ok(at)) => lat.push(at.saturating_duration_since(t0)),
            Ok(Err(e)) => {
                first_err.get_or_insert(format!("{e:#}"));
            }
            Err(_) => {}
        }
    }
    set.abort_all();
    drop(conns);
    let s = Summary::of(&lat);
    let transport = if h2 {
        format!(
            "HTTP/2, {} connection(s) x up to {per} streams",
            w.div_ceil(per)
        )
    } else {
        format!("HTTP/1.1 (server offered no h2), {w} connections")
    };
    sec.line(format!("{w} watches on one namespace over {transport}"));
    sec.line(format!(
        "opened {ready}/{w} in {:.2} s ({failed} failed); the write took {:.2} ms",
        setup_took.as_secs_f64(),
        ms(write)
    ));
    sec.line(format!(
        "write -> event received by {}/{w}: {}",
        lat.len(),
        s.text()
    ));
    if let Some(e) = &first_err {
        sec.line(format!("  first error: {e}"));
    }
    sec.figure("fan-out p50", ms(s.p50), "ms");
    sec.figure("fan-out p99", ms(s.p99), "ms");
    sec.figure("fan-out max", ms(s.max), "ms");
    sec.set("watches", json!(w));
    sec.set("transport", json!(transport));
    sec.set("opened", json!(ready));
    sec.set("received", json!(lat.len()));
    sec.set("setup_ms", json!(ms(setup_took)));
    sec.set("write_ms", json!(ms(write)));
    sec.set("fanout", s.json());
    if let Some(e) = first_err {
        sec.set("first_error", json!(e));
    }
    Ok(sec)
}

// ---------------------------------------------------------------- churn

pub async fn churn(args: &Args, bin: &Path) -> Result<Section> {
    let mut sec = Section::default();
    let server = Server::launch(bin).await?;
    let t = Target::open("minato", &server.kubeconfig, false).await?;
    let ns = format!("minato-bench-churn-{}", run_id());
    ensure_ns(&t.client, &ns).await?;
    let api: Api<ConfigMap> = Api::namespaced(t.client.clone(), &ns);
    let objects = args.churn_objects.max(1);
    let created = {
        let api = api.clone();
        phase(8, objects, move |i| {
            let api = api.clone();
            let cm = configmap(&format!("churn-{i}"), &[], "0");
            async move {
                api.create(&PostParams::default(), &cm).await?;
                Ok(())
            }
        })
        .await
    };
    if created.errors > 0 {
        bail!(
            "creating churn objects: {}",
            created.first_error.unwrap_or_default()
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = server.store_bytes();
    let updates = {
        let api = api.clone();
        phase(8, args.churn_updates, move |k| {
            let api = api.clone();
            let patch =
                Patch::Merge(json!({"data": {"key": k.to_string(), "pad": "x".repeat(200)}}));
            async move {
                api.patch(
                    &format!("churn-{}", k % objects),
                    &PatchParams::default(),
                    &patch,
                )
                .await?;
                Ok(())
            }
        })
        .await
    };
    let after = server.store_bytes();
    let done = Instant::now();
    sec.line(format!(
        "{} merge-patch updates over {objects} ConfigMaps (8 clients, fresh server): {}",
        args.churn_updates,
        updates.text("update")
    ));
    let show = |(db, wal): (u64, u64)| format!("state.db {} MB + wal {} MB", mb(db), mb(wal));
    sec.line(format!("store before churn: {}", show(before)));
    sec.line(format!("store right after:  {}", show(after)));
    // Sample the store while background compaction (default: every 60 s, keeps 5 min) runs.
    let mut samples = vec![json!({"t_s": 0, "db": after.0, "wal": after.1})];
    let wait = Duration::from_secs(args.churn_wait_secs);
    let mut next_line = 60;
    while done.elapsed() < wait {
        tokio::time::sleep(Duration::from_secs(10).min(wait.saturating_sub(done.elapsed()))).await;
        let (db, wal) = server.store_bytes();
        let secs = done.elapsed().as_secs();
        samples.push(json!({"t_s": secs, "db": db, "wal": wal}));
        if secs >= next_line {
            sec.line(format!("  +{secs:>3} s:          {}", show((db, wal))));
            next_line += 60;
        }
    }
    let last = server.store_bytes();
    if args.churn_wait_secs > 0 {
        sec.line(format!(
            "store after {} s:  {}",
            args.churn_wait_secs,
            show(last)
        ));
    }
    let rss = server.rss_bytes().unwrap_or(0);
    sec.line(format!("server RSS at the end: {} MB", mb(rss)));
    sec.set("updates", updates.json());
    sec.set("before", json!({"db": before.0, "wal": before.1}));
    sec.set("after", json!({"db": after.0, "wal": after.1}));
    sec.set(
        "end",
        json!({"db": last.0, "wal": last.1, "waited_s": args.churn_wait_secs}),
    );
    sec.set("samples", json!(samples));
    sec.set("rss_end_mb", json!(mb(rss)));
    server.stop();
    Ok(sec)
}

// ---------------------------------------------------------------- cleanup

/// Deletes what the benchmark created (best effort; errors are only reported).
pub async fn cleanup(t: &Target) {
    let lp = ListParams::default().labels(MANAGED_SEL);
    let dp = DeleteParams::default();
    let mut failures = 0;
    for kind in KINDS {
        let ns = ns_name(kind);
        let cms: Api<ConfigMap> = Api::namespaced(t.client.clone(), &ns);
        failures += cms.delete_collection(&dp, &lp).await.is_err() as usize;
        if kind == "apply" {
            let deps: Api<Deployment> = Api::namespaced(t.client.clone(), &ns);
            failures += deps.delete_collection(&dp, &lp).await.is_err() as usize;
        }
        let nss: Api<Namespace> = Api::all(t.client.clone());
        if let Err(e) = nss.delete(&ns, &dp).await {
            failures += !matches!(&e, kube::Error::Api(s) if s.code == 404) as usize;
        }
    }
    if failures > 0 {
        crate::say(&format!(
            "cleanup on {}: {failures} request(s) failed (namespaces minato-bench-*-{} may remain)",
            t.label,
            run_id()
        ));
    }
}
