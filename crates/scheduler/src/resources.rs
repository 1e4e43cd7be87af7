//! Resource quantities and the pod request rules of upstream's resource helpers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Default requests used for scoring containers that request nothing (upstream's non-zero rule).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// 200 MiB.
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// A set of resource amounts: CPU in millicores, memory and storage in bytes, others as integers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Extended and other scalar resources (`nvidia.com/gpu`, `hugepages-2Mi`, ...).
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Reads a resource list (`requests`, `allocatable`, `overhead`); `pods` is left out.
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Resources {
        let mut r = Resources::default();
        if let Some(list) = list {
            for (name, q) in list {
                r.set(name, q);
            }
        }
        r
    }

    fn set(&mut self, name: &str, q: &Quantity) {
        match name {
            "cpu" => self.milli_cpu = milli_value(&q.0),
            "memory" => self.memory = value(&q.0),
            "ephemeral-storage" => self.ephemeral_storage = value(&q.0),
            "pods" => {}
            other => {
                self.scalar.insert(other.to_string(), value(&q.0));
            }
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }

    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    /// Element-wise maximum.
    pub fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar.get(name).copied().unwrap_or(0)
    }
}

/// Parses a Kubernetes quantity into thousandths of its value, rounding up (as `MilliValue`).
pub fn parse_milli(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let (neg, num) = match num.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int_part, frac_part) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    // mantissa as integer with `scale` decimal digits
    let digits = format!("{int_part}{frac_part}");
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let mut scale = frac_part.len() as i32;
    // binary suffixes multiply, decimal ones shift the exponent
    let (mult, exp): (i128, i32) = match suffix {
        "" => (1, 0),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        e if e.starts_with('e') || e.starts_with('E') => (1, e[1..].parse().ok()?),
        _ => return None,
    };
    // value*1000 = mantissa * mult * 10^(exp + 3 - scale)
    scale -= exp + 3;
    let mut v = mantissa.checked_mul(mult)?;
    if scale <= 0 {
        v = v.checked_mul(10i128.checked_pow((-scale) as u32)?)?;
    } else {
        let d = 10i128.checked_pow(scale as u32)?;
        v = (v + d - 1) / d;
    }
    Some(if neg { -v } else { v })
}

/// `MilliValue()` of a quantity (0 when unparsable; the server validated it).
pub fn milli_value(s: &str) -> i64 {
    parse_milli(s).map(clamp).unwrap_or(0)
}

/// `Value()` of a quantity, rounded up.
pub fn value(s: &str) -> i64 {
    parse_milli(s)
        .map(|m| clamp(if m >= 0 { (m + 999) / 1000 } else { m / 1000 }))
        .unwrap_or(0)
}

fn clamp(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn container_requests(c: &Container) -> Resources {
    Resources::from_list(c.resources.as_ref().and_then(|r| r.requests.as_ref()))
}

fn non_zero(mut r: Resources) -> Resources {
    if r.milli_cpu == 0 {
        r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
    }
    if r.memory == 0 {
        r.memory = DEFAULT_MEMORY_REQUEST;
    }
    r
}

fn pod_requests_with(pod: &Pod, per_container: impl Fn(Resources) -> Resources) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::default();
    };
    let mut reqs = Resources::default();
    for c in &spec.containers {
        reqs.add(&per_container(container_requests(c)));
    }
    // init containers run one at a time; sidecars (restartPolicy Always) keep running
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let r = per_container(container_requests(c));
        let step = if c.restart_policy.as_deref() == Some("Always") {
            reqs.add(&r);
            sidecars.add(&r);
            sidecars.clone()
        } else {
            let mut s = r;
            s.add(&sidecars);
            s
        };
        init_max.max_with(&step);
    }
    reqs.max_with(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        reqs.add(&Resources::from_list(Some(overhead)));
    }
    reqs
}

/// The pod's effective requests: sum of containers and sidecars, at least the largest init
/// step, plus overhead.
pub fn pod_requests(pod: &Pod) -> Resources {
    pod_requests_with(pod, |r| r)
}

/// Requests for scoring: containers without a cpu/memory request count the defaults.
pub fn pod_non_zero_requests(pod: &Pod) -> (i64, i64) {
    let r = pod_requests_with(pod, non_zero);
    (r.milli_cpu, r.memory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        assert_eq!(milli_value("100m"), 100);
        assert_eq!(milli_value("1"), 1000);
        assert_eq!(milli_value("0.5"), 500);
        assert_eq!(milli_value("2.5"), 2500);
        assert_eq!(value("128Mi"), 128 * 1024 * 1024);
        assert_eq!(value("1G"), 1_000_000_000);
        assert_eq!(value("1e3"), 1000);
        assert_eq!(value("1.5Ki"), 1536);
        assert_eq!(value("1m"), 1);
        assert_eq!(milli_value("1u"), 1);
        assert_eq!(value("110"), 110);
        assert_eq!(parse_milli("x"), None);
        assert_eq!(parse_milli("1Zi"), None);
    }

    #[test]
    fn init_max_rule_sidecars_and_overhead() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "200m"}}}
                ],
                "initContainers": [
                    {"name": "i1", "resources": {"requests": {"cpu": "1", "memory": "10Mi"}}},
                    {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m", "nvidia.com/gpu": "1"}}},
                    {"name": "i2", "resources": {"requests": {"cpu": "500m", "memory": "500Mi"}}}
                ],
                "overhead": {"cpu": "10m"}
            }
        }))
        .unwrap();
        let r = pod_requests(&pod);
        // containers 300m + sidecar 50m = 350m < init step 1000m
        assert_eq!(r.milli_cpu, 1010);
        // init step i2: 500Mi (+ sidecar 0 memory) > 100Mi
        assert_eq!(r.memory, 500 * 1024 * 1024);
        assert_eq!(r.scalar("nvidia.com/gpu"), 1);
        // non-zero: b and the sidecar count 200Mi each; step i2 = 500Mi + 200Mi
        let (cpu, mem) = pod_non_zero_requests(&pod);
        assert_eq!(cpu, 1010);
        assert_eq!(mem, 700 * 1024 * 1024);
    }

    #[test]
    fn non_zero_defaults() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}
        }))
        .unwrap();
        assert!(pod_requests(&pod).is_zero());
        assert_eq!(
            pod_non_zero_requests(&pod),
            (DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST)
        );
    }
}
