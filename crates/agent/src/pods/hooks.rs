//! Lifecycle hooks (postStart, preStop): exec in the container, httpGet against the pod, or
//! sleep, as the kubelet's handler runner does.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Probe};

use crate::pods::probes::{run_once, Outcome, Target};

/// Runs a hook; Err carries the message for the FailedPostStartHook/FailedPreStopHook event.
pub async fn run(h: &LifecycleHandler, target: &Target, timeout: Duration) -> Result<(), String> {
    if let Some(s) = &h.sleep {
        tokio::time::sleep(Duration::from_secs(s.seconds.max(0) as u64).min(timeout)).await;
        return Ok(());
    }
    // Hooks reuse the probe handlers with the hook's own timeout (the grace period for preStop).
    let probe = Probe {
        exec: h.exec.clone(),
        http_get: h.http_get.clone(),
        tcp_socket: h.tcp_socket.clone(),
        timeout_seconds: Some(timeout.as_secs().max(1) as i32),
        ..Default::default()
    };
    match run_once(&probe, target).await {
        Outcome::Success => Ok(()),
        Outcome::Failure(m) => Err(m),
    }
}

/// Convenience: a probe target for hooks and probes of one container.
pub fn target(pod_ip: IpAddr, container: &Container, exec: crate::pods::ExecFn) -> Target {
    Target {
        pod_ip,
        container: container.clone(),
        exec,
    }
}
