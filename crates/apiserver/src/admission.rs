//! Admission for new pods, as upstream's default plugins do: Priority, DefaultTolerationSeconds
//! and ServiceAccount (default account, the account must exist, and the projected API-access
//! volume).

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::resource::from_stored;
use crate::server::State;

const TOKEN_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn forbidden(pod: &Value, why: &str) -> ApiError {
    ApiError::forbidden(format!(
        "pods \"{}\" is forbidden: {why}",
        meta::name(pod).unwrap_or("")
    ))
}

/// Resolves `spec.priorityClassName` into `spec.priority` and `spec.preemptionPolicy`.
async fn priority(state: &State, pod: &mut Value) -> ApiResult<()> {
    let class = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let (value, policy) = match &class {
        Some(name) => {
            let key = format!("/registry/scheduling.k8s.io/priorityclasses/{name}");
            let Some(kv) = state.store.get(&key).await? else {
                return Err(forbidden(
                    pod,
                    &format!("no PriorityClass with name {name} was found"),
                ));
            };
            let pc = from_stored(&kv)?;
            (
                pc.get("value").and_then(Value::as_i64).unwrap_or(0),
                pc.get("preemptionPolicy")
                    .and_then(Value::as_str)
                    .unwrap_or("PreemptLowerPriority")
                    .to_string(),
            )
        }
        None => {
            // The globalDefault class, if one exists, else priority 0.
            let page = state
                .store
                .range(
                    "/registry/scheduling.k8s.io/priorityclasses/",
                    Default::default(),
                )
                .await?;
            let default = page
                .kvs
                .iter()
                .filter_map(|kv| from_stored(kv).ok())
                .find(|pc| pc.get("globalDefault").and_then(Value::as_bool) == Some(true));
            match default {
                Some(pc) => (
                    pc.get("value").and_then(Value::as_i64).unwrap_or(0),
                    pc.get("preemptionPolicy")
                        .and_then(Value::as_str)
                        .unwrap_or("PreemptLowerPriority")
                        .to_string(),
                ),
                None => (0, "PreemptLowerPriority".to_string()),
            }
        }
    };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64) {
        if given != value {
            let name = class.unwrap_or_default();
            return Err(ApiError::forbidden(format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name{}",
                if name.is_empty() { String::new() } else { format!(" {name}") }
            )));
        }
    }
    spec.insert("priority".into(), json!(value));
    spec.entry("preemptionPolicy")
        .or_insert_with(|| json!(policy));
    Ok(())
}

/// Tolerates not-ready and unreachable nodes for 300 s unless the pod says otherwise.
fn default_tolerations(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = tolerations.as_array_mut() else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let covered = list.iter().any(|t| {
            let k = t.get("key").and_then(Value::as_str).unwrap_or("");
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            let exists_all =
                k.is_empty() && t.get("operator").and_then(Value::as_str) == Some("Exists");
            (k == key || exists_all) && (effect.is_empty() || effect == "NoExecute")
        });
        if !covered {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

/// How often and how long admission looks for the `default` account before refusing a pod:
/// the ServiceAccount controller creates it moments after its namespace, and a pod created
/// right after the namespace should not lose that race (upstream retries 10 times, 100-200 ms
/// apart). Other accounts are looked up once.
const DEFAULT_SA_ATTEMPTS: u32 = 10;

/// Reads a ServiceAccount; for `default`, waits briefly for the controller to create it.
async fn lookup_service_account(state: &State, ns: &str, name: &str) -> ApiResult<Option<Value>> {
    let Some(entry) = state.registry.lookup("", "v1", "serviceaccounts") else {
        return Ok(None);
    };
    let key = entry.info.key(Some(ns), name);
    let attempts = if name == "default" {
        DEFAULT_SA_ATTEMPTS
    } else {
        1
    };
    for attempt in 0..attempts {
        if attempt > 0 {
            let wait = 100 + rand::random::<u64>() % 100;
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
        }
        if let Some(kv) = state.store.get(&key).await? {
            return Ok(Some(from_stored(&kv)?));
        }
    }
    Ok(None)
}

/// Whether the pod is a static pod's mirror (made by a node agent, never given an account).
fn is_mirror_pod(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
}

/// The ServiceAccount admission plugin: defaults `serviceAccountName` to `default`, refuses
/// pods whose account does not exist (403, upstream's message), and, unless the pod or the
/// account opts out, mounts the projected volume with the account's token, the cluster CA and
/// the namespace in every container.
async fn service_account(state: &State, pod: &mut Value) -> ApiResult<()> {
    if is_mirror_pod(pod) {
        let named = pod
            .pointer("/spec/serviceAccountName")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if named {
            return Err(forbidden(
                pod,
                "a mirror pod may not reference service accounts",
            ));
        }
        return Ok(());
    }
    let ns = meta::namespace(pod).unwrap_or("default").to_string();
    let sa = pod
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    let Some(account) = lookup_service_account(state, &ns, &sa).await? else {
        return Err(forbidden(
            pod,
            &format!(
                "error looking up service account {ns}/{sa}: serviceaccount \"{sa}\" not found"
            ),
        ));
    };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    spec.insert("serviceAccountName".into(), json!(sa));
    spec.insert("serviceAccount".into(), json!(sa));
    // The pod's own setting wins over the account's; both default to mounting.
    let automount = spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            account
                .get("automountServiceAccountToken")
                .and_then(Value::as_bool)
        })
        .unwrap_or(true);
    if !automount {
        return Ok(());
    }
    let already_mounted = ["containers", "initContainers"].iter().any(|field| {
        spec.get(*field)
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.get("volumeMounts")
                        .and_then(Value::as_array)
                        .is_some_and(|ms| {
                            ms.iter().any(|m| {
                                m.get("mountPath").and_then(Value::as_str) == Some(TOKEN_MOUNT)
                            })
                        })
                })
            })
    });
    if already_mounted {
        return Ok(());
    }
    let volume_name = format!("kube-api-access-{}", meta::random_suffix(5));
    let volume = json!({
        "name": volume_name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]
        }
    });
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    if let Some(v) = volumes.as_array_mut() {
        v.push(volume);
    }
    for field in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(field).and_then(Value::as_array_mut) {
            for c in cs {
                if let Some(c) = c.as_object_mut() {
                    let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
                    if let Some(m) = mounts.as_array_mut() {
                        m.push(json!({"name": volume_name, "readOnly": true, "mountPath": TOKEN_MOUNT}));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Mutating admission for a new object (before validation).
pub async fn admit_create(
    state: &State,
    group: &str,
    kind: &str,
    obj: &mut Value,
) -> ApiResult<()> {
    if group.is_empty() && kind == "Pod" {
        priority(state, obj).await?;
        default_tolerations(obj);
        service_account(state, obj).await?;
    }
    Ok(())
}
