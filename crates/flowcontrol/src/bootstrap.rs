//! The configuration every cluster starts with: upstream's mandatory and suggested
//! FlowSchemas and PriorityLevelConfigurations (the same names, precedences, shares and
//! queue shapes), each with `apf.kubernetes.io/autoupdate-spec: "true"`.

use serde_json::{json, Value};

/// Marks objects whose spec the server keeps up to date.
pub const AUTO_UPDATE_ANNOTATION: &str = "apf.kubernetes.io/autoupdate-spec";

const API_VERSION: &str = "flowcontrol.apiserver.k8s.io/v1";

fn level(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": name, "annotations": {AUTO_UPDATE_ANNOTATION: "true"}},
        "spec": spec,
    })
}

fn queued(shares: i32, lendable: i32, queues: i32, hand: i32) -> Value {
    json!({
        "type": "Limited",
        "limited": {
            "nominalConcurrencyShares": shares,
            "lendablePercent": lendable,
            "limitResponse": {
                "type": "Queue",
                "queuing": {"queues": queues, "handSize": hand, "queueLengthLimit": 50},
            },
        },
    })
}

/// Every PriorityLevelConfiguration a new cluster has (mandatory first).
pub fn priority_levels() -> Vec<Value> {
    vec![
        level(
            "exempt",
            json!({"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}}),
        ),
        level(
            "catch-all",
            json!({"type": "Limited", "limited": {
                "nominalConcurrencyShares": 5, "lendablePercent": 0,
                "limitResponse": {"type": "Reject"},
            }}),
        ),
        level("system", queued(30, 33, 64, 6)),
        level("node-high", queued(40, 25, 64, 6)),
        level("leader-election", queued(10, 0, 16, 4)),
        level("workload-high", queued(40, 50, 128, 6)),
        level("workload-low", queued(100, 90, 128, 6)),
        level("global-default", queued(20, 50, 128, 6)),
    ]
}

fn schema(name: &str, level: &str, precedence: i32, by: Option<&str>, rules: Value) -> Value {
    let mut spec = json!({
        "priorityLevelConfiguration": {"name": level},
        "matchingPrecedence": precedence,
        "rules": rules,
    });
    if let Some(by) = by {
        spec["distinguisherMethod"] = json!({"type": by});
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "FlowSchema",
        "metadata": {"name": name, "annotations": {AUTO_UPDATE_ANNOTATION: "true"}},
        "spec": spec,
    })
}

fn groups(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"kind": "Group", "group": {"name": n}}))
        .collect()
}

fn users(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"kind": "User", "user": {"name": n}}))
        .collect()
}

fn kube_system_service_accounts() -> Value {
    json!({"kind": "ServiceAccount", "serviceAccount": {"name": "*", "namespace": "kube-system"}})
}

/// Everything, resource and non-resource, for these subjects.
fn everything(subjects: Vec<Value>) -> Value {
    json!([{
        "subjects": subjects,
        "resourceRules": [{
            "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
            "namespaces": ["*"], "clusterScope": true,
        }],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
    }])
}

/// Every FlowSchema a new cluster has (mandatory first).
pub fn flow_schemas() -> Vec<Value> {
    let all_users = || groups(&["system:unauthenticated", "system:authenticated"]);
    let mut leader_subjects = users(&["system:kube-controller-manager", "system:kube-scheduler"]);
    leader_subjects.push(kube_system_service_accounts());
    vec![
        schema(
            "exempt",
            "exempt",
            1,
            None,
            everything(groups(&["system:masters"])),
        ),
        schema(
            "catch-all",
            "catch-all",
            10000,
            Some("ByUser"),
            everything(all_users()),
        ),
        schema(
            "probes",
            "exempt",
            2,
            None,
            json!([{
                "subjects": all_users(),
                "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}],
            }]),
        ),
        schema(
            "system-leader-election",
            "leader-election",
            100,
            Some("ByUser"),
            json!([{
                "subjects": leader_subjects,
                "resourceRules": [{
                    "verbs": ["get", "create", "update"], "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"], "namespaces": ["*"],
                }],
            }]),
        ),
        schema(
            "system-node-high",
            "node-high",
            400,
            Some("ByUser"),
            json!([{
                "subjects": groups(&["system:nodes"]),
                "resourceRules": [
                    {"verbs": ["*"], "apiGroups": [""], "resources": ["nodes", "nodes/status"],
                     "namespaces": ["*"], "clusterScope": true},
                    {"verbs": ["*"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                     "namespaces": ["*"]},
                ],
            }]),
        ),
        schema(
            "system-nodes",
            "system",
            500,
            Some("ByUser"),
            everything(groups(&["system:nodes"])),
        ),
        schema(
            "kube-controller-manager",
            "workload-high",
            800,
            Some("ByNamespace"),
            everything(users(&["system:kube-controller-manager"])),
        ),
        schema(
            "kube-scheduler",
            "workload-high",
            800,
            Some("ByNamespace"),
            everything(users(&["system:kube-scheduler"])),
        ),
        schema(
            "kube-system-service-accounts",
            "workload-high",
            900,
            Some("ByNamespace"),
            everything(vec![kube_system_service_accounts()]),
        ),
        schema(
            "service-accounts",
            "workload-low",
            9000,
            Some("ByUser"),
            everything(groups(&["system:serviceaccounts"])),
        ),
        schema(
            "global-default",
            "global-default",
            9900,
            Some("ByUser"),
            everything(all_users()),
        ),
    ]
}

/// Names of the objects the server recreates when they are missing (upstream's "mandatory").
pub const MANDATORY_LEVELS: [&str; 2] = ["exempt", "catch-all"];
pub const MANDATORY_SCHEMAS: [&str; 2] = ["exempt", "catch-all"];
