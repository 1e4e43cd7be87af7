//! Creates pods bound round-robin to simulated nodes and times how long until all are Running:
//! `load_pods --kubeconfig F --pods 2000 --nodes 1000 [--prefix sim-node-]`.

use std::time::Instant;

use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

#[derive(Parser)]
struct Cmd {
    #[arg(long)]
    kubeconfig: String,
    #[arg(long, default_value_t = 2000)]
    pods: u32,
    #[arg(long, default_value_t = 1000)]
    nodes: u32,
    #[arg(long, default_value = "sim-node-")]
    prefix: String,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cmd = Cmd::parse();
    let kc = kube::config::Kubeconfig::read_from(&cmd.kubeconfig)?;
    let kcfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(kcfg)?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let began = Instant::now();
    futures::stream::iter(0..cmd.pods)
        .map(|i| {
            let pods = pods.clone();
            let node = format!("{}{}", cmd.prefix, i % cmd.nodes);
            async move {
                let p: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("load-{i}")},
                    "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx:1.25"}]},
                }))?;
                pods.create(&PostParams::default(), &p).await?;
                Ok::<_, Box<dyn std::error::Error>>(())
            }
        })
        .buffer_unordered(cmd.concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    let created = began.elapsed();
    eprintln!(
        "created {} pods in {:.2}s ({:.0}/s)",
        cmd.pods,
        created.as_secs_f64(),
        f64::from(cmd.pods) / created.as_secs_f64()
    );
    loop {
        let lp = ListParams::default().fields("status.phase=Running");
        let running = pods.list_metadata(&lp).await?.items.len() as u32;
        if running >= cmd.pods {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let all = began.elapsed();
    eprintln!(
        "all {} pods Running {:.2}s after the first create ({:.0} pods/s end to end)",
        cmd.pods,
        all.as_secs_f64(),
        f64::from(cmd.pods) / all.as_secs_f64()
    );
    Ok(())
}
