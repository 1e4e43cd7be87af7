//! A pod's shared PID namespace (`shareProcessNamespace: true`): its init process (the
//! runtime's [`PidHolder`], upstream's pause container) is recorded in the pod's directory,
//! so a restarted agent joins new containers to the same namespace and stops it with the pod.

use std::path::{Path, PathBuf};

use minato_runtime::{PidHolder, Runtime};

const RECORD: &str = "pid-namespace.json";

/// Whether the pod's containers share one PID namespace of their own (with hostPID they share
/// the host's; validation refuses both at once, the agent lets hostPID win).
pub fn wanted(spec: &k8s_openapi::api::core::v1::PodSpec) -> bool {
    spec.share_process_namespace == Some(true) && spec.host_pid != Some(true)
}

/// The recorded holder, if it still runs.
fn live(pod_dir: &Path) -> Option<PidHolder> {
    let data = std::fs::read(pod_dir.join(RECORD)).ok()?;
    serde_json::from_slice::<PidHolder>(&data)
        .ok()
        .filter(PidHolder::is_alive)
}

/// The namespace for the pod's containers: the recorded holder's, or a new holder's if it is
/// gone (its containers went with it and are restarted by their restart policy).
pub async fn ensure(runtime: &Runtime, pod_dir: &Path) -> Result<PathBuf, String> {
    if let Some(h) = live(pod_dir) {
        return Ok(h.namespace_path());
    }
    let h = runtime
        .start_pid_holder()
        .await
        .map_err(|e| e.to_string())?;
    let record = serde_json::to_vec(&h).map_err(|e| e.to_string())?;
    let written =
        std::fs::create_dir_all(pod_dir).and_then(|_| std::fs::write(pod_dir.join(RECORD), record));
    if let Err(e) = written {
        h.stop();
        return Err(format!(
            "cannot record the pod's PID namespace in {}: {e}",
            pod_dir.display()
        ));
    }
    Ok(h.namespace_path())
}

/// Ends the pod's PID namespace, if it has one (every process left in it ends too).
pub fn stop(pod_dir: &Path) {
    if let Some(h) = live(pod_dir) {
        h.stop();
    }
    let _ = std::fs::remove_file(pod_dir.join(RECORD));
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;

    #[test]
    fn only_a_private_shared_namespace_is_wanted() {
        let spec = |share, host_pid| PodSpec {
            share_process_namespace: share,
            host_pid,
            ..Default::default()
        };
        assert!(wanted(&spec(Some(true), None)));
        assert!(wanted(&spec(Some(true), Some(false))));
        assert!(!wanted(&spec(Some(true), Some(true))));
        assert!(!wanted(&spec(Some(false), None)));
        assert!(!wanted(&spec(None, None)));
    }

    #[test]
    fn a_stale_record_is_not_a_live_holder() {
        let dir = tempfile::tempdir().unwrap();
        assert!(live(dir.path()).is_none());
        // A PID that exists (ours) with another start time: a reused PID, not the holder.
        let stale = PidHolder {
            pid: std::process::id(),
            start_time: 1,
        };
        std::fs::write(dir.path().join(RECORD), serde_json::to_vec(&stale).unwrap()).unwrap();
        assert!(live(dir.path()).is_none());
        stop(dir.path());
        assert!(!dir.path().join(RECORD).exists());
    }
}
