//! From requests and limits to what the kernel enforces: QoS class, cgroup parent, CPU
//! shares/quota and memory limits, as the kubelet's cm package derives them.

use k8s_openapi::api::core::v1::{Container, PodSpec};
use minato_runtime::Resources;
// Quantity parsing lives with the scheduler, which needed it first; one parser for the project.
use minato_scheduler::resources::{milli_value, value};

const CPU_PERIOD: u64 = 100_000;
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;

fn get<'a>(
    list: Option<
        &'a std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >,
    key: &str,
) -> Option<&'a str> {
    list.and_then(|l| l.get(key)).map(|q| q.0.as_str())
}

fn requests(c: &Container, key: &str) -> Option<String> {
    let r = c.resources.as_ref()?;
    // A limit without a request implies an equal request (API defaulting does this too).
    get(r.requests.as_ref(), key)
        .or_else(|| get(r.limits.as_ref(), key))
        .map(str::to_string)
}

fn limits(c: &Container, key: &str) -> Option<String> {
    let r = c.resources.as_ref()?;
    get(r.limits.as_ref(), key).map(str::to_string)
}

/// The pod's QoS class (Guaranteed, Burstable or BestEffort), by upstream's rules.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let all: Vec<&Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &all {
        for key in ["cpu", "memory"] {
            let req = requests(c, key);
            let lim = limits(c, key);
            if req.as_deref().is_some_and(|q| milli_value(q) != 0) || lim.is_some() {
                any = true;
            }
            match (req, lim) {
                (Some(r), Some(l)) if milli_value(&r) == milli_value(&l) => {}
                _ => guaranteed = false,
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The pod's cgroup, below the agent's root: Guaranteed pods directly under it, the others
/// under `burstable` / `besteffort`, as the kubelet lays them out.
pub fn pod_cgroup(root: &str, spec: &PodSpec, uid: &str) -> String {
    let root = root.trim_end_matches('/');
    match qos_class(spec) {
        "Guaranteed" => format!("{root}/pod{uid}"),
        "Burstable" => format!("{root}/burstable/pod{uid}"),
        _ => format!("{root}/besteffort/pod{uid}"),
    }
}

/// cpu.shares from a CPU request in millicores (kubelet's MilliCPUToShares).
pub fn shares(milli: i64) -> u64 {
    if milli <= 0 {
        return MIN_SHARES;
    }
    ((milli as u64) * 1024 / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// CFS quota for a CPU limit in millicores over the default 100 ms period (MilliCPUToQuota).
pub fn quota(milli: i64) -> Option<i64> {
    (milli > 0).then(|| (milli * CPU_PERIOD as i64 / 1000).max(1000))
}

/// The limits one container runs with.
pub fn container_resources(c: &Container) -> Resources {
    let cpu_req = requests(c, "cpu").map(|q| milli_value(&q)).unwrap_or(0);
    let cpu_lim = limits(c, "cpu").map(|q| milli_value(&q));
    let mem_lim = limits(c, "memory").map(|q| value(&q));
    Resources {
        cpu_shares: Some(shares(cpu_req)),
        cpu_quota: cpu_lim.and_then(quota),
        cpu_period: cpu_lim.map(|_| CPU_PERIOD),
        memory_limit: mem_lim.filter(|m| *m > 0),
        pids_limit: None,
    }
}

/// Pod-level limits: the sum of the app containers' limits when every container has one
/// (otherwise unlimited), shares from the summed requests.
pub fn pod_resources(spec: &PodSpec) -> Resources {
    let mut cpu_req = 0;
    let mut cpu_lim = Some(0i64);
    let mut mem_lim = Some(0i64);
    for c in &spec.containers {
        cpu_req += requests(c, "cpu").map(|q| milli_value(&q)).unwrap_or(0);
        cpu_lim = match (cpu_lim, limits(c, "cpu")) {
            (Some(a), Some(q)) => Some(a + milli_value(&q)),
            _ => None,
        };
        mem_lim = match (mem_lim, limits(c, "memory")) {
            (Some(a), Some(q)) => Some(a + value(&q)),
            _ => None,
        };
    }
    Resources {
        cpu_shares: Some(shares(cpu_req)),
        cpu_quota: cpu_lim.and_then(quota),
        cpu_period: cpu_lim.map(|_| CPU_PERIOD),
        memory_limit: mem_lim.filter(|m| *m > 0),
        pids_limit: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: serde_json::Value) -> PodSpec {
        serde_json::from_value(serde_json::json!({ "containers": containers })).unwrap()
    }

    #[test]
    fn qos_classes_follow_upstream() {
        assert_eq!(
            qos_class(&pod(serde_json::json!([{"name": "a"}]))),
            "BestEffort"
        );
        assert_eq!(
            qos_class(&pod(
                serde_json::json!([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}])
            )),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&pod(
                serde_json::json!([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}])
            )),
            "Burstable"
        );
    }

    #[test]
    fn cpu_conversions_match_the_kubelet() {
        assert_eq!(shares(0), 2);
        assert_eq!(shares(100), 102);
        assert_eq!(shares(1000), 1024);
        assert_eq!(quota(200), Some(20_000));
        assert_eq!(quota(5), Some(1000));
    }

    #[test]
    fn container_limits() {
        let spec = pod(
            serde_json::json!([{"name": "a", "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}}}]),
        );
        let r = container_resources(&spec.containers[0]);
        assert_eq!(r.cpu_quota, Some(20_000));
        assert_eq!(r.cpu_period, Some(100_000));
        assert_eq!(r.memory_limit, Some(64 * 1024 * 1024));
        assert_eq!(r.cpu_shares, Some(204));
    }
}
