//! Command-line flags for `minato simulate` / `minato server --simulated-nodes N`: flatten
//! [`SimArgs`] into a clap command and call [`SimArgs::to_config`].

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ipam::Ipv4Cidr;
use crate::{Error, SimConfig};

/// Parses a Go-style duration flag (`1s`, `500ms`, `2m`).
pub fn parse_duration_flag(s: &str) -> Result<Duration, String> {
    crate::pod::parse_duration(s)
        .ok_or_else(|| format!("invalid duration {s:?} (e.g. 1s, 500ms, 2m)"))
}

/// The simulator's flags.
#[derive(Clone, Debug, clap::Args)]
pub struct SimArgs {
    /// Number of simulated nodes.
    #[arg(long = "nodes", default_value_t = 1)]
    pub nodes: u32,
    /// Node name prefix (nodes are PREFIX0, PREFIX1, …).
    #[arg(long = "node-name-prefix", default_value = "sim-node-")]
    pub name_prefix: String,
    /// CPU capacity per node.
    #[arg(long, default_value = "4")]
    pub cpu: String,
    /// Memory capacity per node.
    #[arg(long, default_value = "16Gi")]
    pub memory: String,
    /// Pod capacity per node.
    #[arg(long, default_value_t = 110)]
    pub pods: u32,
    /// Time from binding to Running.
    #[arg(long = "start-delay", default_value = "1s", value_parser = parse_duration_flag)]
    pub start_delay: Duration,
    /// Pod network; node i gets its i-th /24. Default: 10.244.0.0/16, widened to fit --nodes.
    #[arg(long = "pod-cidr")]
    pub pod_cidr: Option<String>,
    /// Extra node label KEY=VALUE (repeatable).
    #[arg(long = "node-label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Do not record kubelet Events (faster at scale).
    #[arg(long = "no-events")]
    pub no_events: bool,
    /// API requests in flight at most.
    #[arg(long = "max-requests", default_value_t = 32)]
    pub max_concurrent_requests: usize,
}

impl SimArgs {
    pub fn to_config(&self) -> Result<SimConfig, Error> {
        let mut c = SimConfig::with_nodes(self.nodes);
        c.name_prefix = self.name_prefix.clone();
        c.cpu = self.cpu.clone();
        c.memory = self.memory.clone();
        c.pods = self.pods;
        c.start_delay = self.start_delay;
        c.events = !self.no_events;
        c.max_concurrent_requests = self.max_concurrent_requests;
        if let Some(cidr) = &self.pod_cidr {
            c.pod_cidr = cidr.parse::<Ipv4Cidr>()?;
        }
        let mut labels = BTreeMap::new();
        for l in &self.labels {
            let (k, v) = l
                .split_once('=')
                .ok_or_else(|| Error::Config(format!("node label {l:?} is not KEY=VALUE")))?;
            labels.insert(k.to_string(), v.to_string());
        }
        c.labels = labels;
        c.plan_nodes()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn flags_become_a_config() {
        let cmd = Cmd::try_parse_from([
            "x",
            "--nodes",
            "1000",
            "--cpu",
            "8",
            "--memory",
            "32Gi",
            "--pods",
            "50",
            "--start-delay",
            "250ms",
            "--node-label",
            "zone=a",
            "--no-events",
        ])
        .unwrap();
        let c = cmd.sim.to_config().unwrap();
        assert_eq!(c.nodes, 1000);
        assert_eq!(
            (c.cpu.as_str(), c.memory.as_str(), c.pods),
            ("8", "32Gi", 50)
        );
        assert_eq!(c.start_delay, Duration::from_millis(250));
        assert_eq!(c.labels["zone"], "a");
        assert!(!c.events);
        // 1,000 /24 ranges do not fit in 10.244.0.0/16: widened.
        assert_eq!(c.pod_cidr.to_string(), "10.244.0.0/14");
        let nodes = c.plan_nodes().unwrap();
        assert_eq!(nodes[999].pod_cidr().to_string(), "10.247.231.0/24");
        assert_eq!(nodes[0].host_ip, "198.18.0.1");

        let small = Cmd::try_parse_from(["x", "--nodes", "3"])
            .unwrap()
            .sim
            .to_config()
            .unwrap();
        assert_eq!(small.pod_cidr.to_string(), "10.244.0.0/16");
        assert_eq!(small.start_delay, Duration::from_secs(1));

        let too_many = Cmd::try_parse_from(["x", "--nodes", "300", "--pod-cidr", "10.244.0.0/16"])
            .unwrap()
            .sim
            .to_config();
        assert!(matches!(too_many, Err(Error::Config(_))));
        assert!(Cmd::try_parse_from(["x", "--start-delay", "soon"]).is_err());
        assert!(Cmd::try_parse_from(["x", "--node-label", "novalue"])
            .unwrap()
            .sim
            .to_config()
            .is_err());
    }
}
