//! Runs the simulator as its own process: `simulate --kubeconfig F --nodes N [flags]`.
//! (The same flags `minato simulate` will take.)

use clap::Parser;
use minato_simulator::cli::SimArgs;

#[derive(Parser)]
struct Cmd {
    #[arg(long)]
    kubeconfig: String,
    #[command(flatten)]
    sim: SimArgs,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "minato_simulator=info".into()),
        )
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cmd = Cmd::parse();
    let config = cmd.sim.to_config()?;
    let kc = kube::config::Kubeconfig::read_from(&cmd.kubeconfig)?;
    let kcfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(kcfg)?;
    let handle = minato_simulator::start(client, config).await?;
    eprintln!(
        "registered {} nodes in {:.2}s",
        handle.stats().nodes_registered,
        handle.registration_time().as_secs_f64()
    );
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        eprintln!("stats {:?}", handle.stats());
    }
}
