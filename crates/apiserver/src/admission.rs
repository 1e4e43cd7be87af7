//! Admission for new pods, as upstream's default plugins do: Priority, DefaultTolerationSeconds
//! and ServiceAccount (default account and the projected API-access volume).

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

/// The default ServiceAccount and, unless opted out, the projected volume with the account's
/// token, the cluster CA and the namespace, mounted in every container.
fn service_account(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let sa = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    spec.insert("serviceAccountName".into(), json!(sa));
    spec.insert("serviceAccount".into(), json!(sa));
    if spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        == Some(false)
    {
        return;
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
        return;
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
        service_account(obj);
    }
    Ok(())
}
