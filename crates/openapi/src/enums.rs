//! The `enum` values of string fields whose Go types carry upstream's `+enum` marker.
//!
//! Upstream's OpenAPI lists them (sorted), and `kubectl explain` prints them as an ENUM section.
//! The k8s-openapi types behind our schemas have no such markers, so the values are listed here,
//! by schema and property. Lists of enum values (accessModes, ipFamilies, policyTypes) are left
//! out: kubectl prints no ENUM section for arrays.

use serde_json::{Map, Value};

const CORE: &str = "io.k8s.api.core.v1.";
const APPS: &str = "io.k8s.api.apps.v1.";
const BATCH: &str = "io.k8s.api.batch.v1.";
const NETWORKING: &str = "io.k8s.api.networking.v1.";
const SCHEDULING: &str = "io.k8s.api.scheduling.v1.";

const PULL_POLICY: &[&str] = &["Always", "IfNotPresent", "Never"];
const TERMINATION_MESSAGE_POLICY: &[&str] = &["FallbackToLogsOnError", "File"];
const PROTOCOL: &[&str] = &["SCTP", "TCP", "UDP"];
const TAINT_EFFECT: &[&str] = &["NoExecute", "NoSchedule", "PreferNoSchedule"];
const SELECTOR_OPERATOR: &[&str] = &["DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"];
const PROFILE_TYPE: &[&str] = &["Localhost", "RuntimeDefault", "Unconfined"];
const VOLUME_MODE: &[&str] = &["Block", "Filesystem"];
const TRAFFIC_POLICY: &[&str] = &["Cluster", "Local"];
const PREEMPTION_POLICY: &[&str] = &["Never", "PreemptLowerPriority"];
const UPDATE_STRATEGY: &[&str] = &["OnDelete", "RollingUpdate"];
const RETENTION: &[&str] = &["Delete", "Retain"];

/// (schema, property, values).
const ENUMS: &[(&str, &str, &str, &[&str])] = &[
    (CORE, "Container", "imagePullPolicy", PULL_POLICY),
    (CORE, "EphemeralContainer", "imagePullPolicy", PULL_POLICY),
    (
        CORE,
        "Container",
        "terminationMessagePolicy",
        TERMINATION_MESSAGE_POLICY,
    ),
    (
        CORE,
        "EphemeralContainer",
        "terminationMessagePolicy",
        TERMINATION_MESSAGE_POLICY,
    ),
    (CORE, "ContainerPort", "protocol", PROTOCOL),
    (CORE, "ServicePort", "protocol", PROTOCOL),
    (CORE, "EndpointPort", "protocol", PROTOCOL),
    (
        CORE,
        "PodSpec",
        "restartPolicy",
        &["Always", "Never", "OnFailure"],
    ),
    (
        CORE,
        "PodSpec",
        "dnsPolicy",
        &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
    ),
    (CORE, "PodSpec", "preemptionPolicy", PREEMPTION_POLICY),
    (
        CORE,
        "PodStatus",
        "phase",
        &["Failed", "Pending", "Running", "Succeeded", "Unknown"],
    ),
    (
        CORE,
        "PodStatus",
        "qosClass",
        &["BestEffort", "Burstable", "Guaranteed"],
    ),
    (
        CORE,
        "ServiceSpec",
        "type",
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
    ),
    (
        CORE,
        "ServiceSpec",
        "sessionAffinity",
        &["ClientIP", "None"],
    ),
    (CORE, "ServiceSpec", "externalTrafficPolicy", TRAFFIC_POLICY),
    (CORE, "ServiceSpec", "internalTrafficPolicy", TRAFFIC_POLICY),
    (
        CORE,
        "ServiceSpec",
        "ipFamilyPolicy",
        &["PreferDualStack", "RequireDualStack", "SingleStack"],
    ),
    (CORE, "Toleration", "operator", &["Equal", "Exists"]),
    (CORE, "Toleration", "effect", TAINT_EFFECT),
    (CORE, "Taint", "effect", TAINT_EFFECT),
    (
        CORE,
        "NodeSelectorRequirement",
        "operator",
        SELECTOR_OPERATOR,
    ),
    (CORE, "HTTPGetAction", "scheme", &["HTTP", "HTTPS"]),
    (CORE, "SeccompProfile", "type", PROFILE_TYPE),
    (CORE, "AppArmorProfile", "type", PROFILE_TYPE),
    (
        CORE,
        "VolumeMount",
        "mountPropagation",
        &["Bidirectional", "HostToContainer", "None"],
    ),
    (
        CORE,
        "HostPathVolumeSource",
        "type",
        &[
            "",
            "BlockDevice",
            "CharDevice",
            "Directory",
            "DirectoryOrCreate",
            "File",
            "FileOrCreate",
            "Socket",
        ],
    ),
    (CORE, "PersistentVolumeClaimSpec", "volumeMode", VOLUME_MODE),
    (CORE, "PersistentVolumeSpec", "volumeMode", VOLUME_MODE),
    (
        CORE,
        "PersistentVolumeSpec",
        "persistentVolumeReclaimPolicy",
        &["Delete", "Recycle", "Retain"],
    ),
    (
        CORE,
        "PersistentVolumeClaimStatus",
        "phase",
        &["Bound", "Lost", "Pending"],
    ),
    (
        CORE,
        "PersistentVolumeStatus",
        "phase",
        &["Available", "Bound", "Failed", "Pending", "Released"],
    ),
    (CORE, "NamespaceStatus", "phase", &["Active", "Terminating"]),
    (
        APPS,
        "DeploymentStrategy",
        "type",
        &["Recreate", "RollingUpdate"],
    ),
    (
        APPS,
        "StatefulSetSpec",
        "podManagementPolicy",
        &["OrderedReady", "Parallel"],
    ),
    (APPS, "StatefulSetUpdateStrategy", "type", UPDATE_STRATEGY),
    (APPS, "DaemonSetUpdateStrategy", "type", UPDATE_STRATEGY),
    (
        APPS,
        "StatefulSetPersistentVolumeClaimRetentionPolicy",
        "whenDeleted",
        RETENTION,
    ),
    (
        APPS,
        "StatefulSetPersistentVolumeClaimRetentionPolicy",
        "whenScaled",
        RETENTION,
    ),
    (
        BATCH,
        "CronJobSpec",
        "concurrencyPolicy",
        &["Allow", "Forbid", "Replace"],
    ),
    (
        BATCH,
        "JobSpec",
        "completionMode",
        &["Indexed", "NonIndexed"],
    ),
    (
        BATCH,
        "JobSpec",
        "podReplacementPolicy",
        &["Failed", "TerminatingOrFailed"],
    ),
    (
        BATCH,
        "PodFailurePolicyRule",
        "action",
        &["Count", "FailIndex", "FailJob", "Ignore"],
    ),
    (
        BATCH,
        "PodFailurePolicyOnExitCodesRequirement",
        "operator",
        &["In", "NotIn"],
    ),
    (
        NETWORKING,
        "HTTPIngressPath",
        "pathType",
        &["Exact", "ImplementationSpecific", "Prefix"],
    ),
    (NETWORKING, "NetworkPolicyPort", "protocol", PROTOCOL),
    (
        SCHEDULING,
        "PriorityClass",
        "preemptionPolicy",
        PREEMPTION_POLICY,
    ),
];

/// Adds the enum values to every listed property the schemas have.
pub(crate) fn apply(defs: &mut Map<String, Value>) {
    for (prefix, schema, property, values) in ENUMS {
        let Some(prop) = defs
            .get_mut(&format!("{prefix}{schema}"))
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(*property))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if prop.get("type").and_then(Value::as_str) == Some("string") {
            prop.insert(
                "enum".into(),
                Value::Array(values.iter().map(|v| Value::from(*v)).collect()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_sorted_as_upstream_lists_them() {
        for (_, schema, property, values) in ENUMS {
            let mut sorted = values.to_vec();
            sorted.sort_unstable();
            assert_eq!(&sorted, values, "{schema}.{property}");
        }
    }

    /// A schema or property name mistyped in the table would silently do nothing.
    #[test]
    fn every_listed_property_exists_in_the_built_schemas() {
        let registry = minato_resources::Registry::new();
        let entries = registry.all();
        let infos: Vec<&minato_resources::ResourceInfo> =
            entries.iter().map(|e| &*e.info).collect();
        let schemas = crate::schemas::Schemas::build(&infos, &std::collections::HashMap::new())
            .expect("schemas");
        for (prefix, schema, property, values) in ENUMS {
            let prop = &schemas.defs[&format!("{prefix}{schema}")]["properties"][*property];
            assert_eq!(
                prop["enum"],
                serde_json::json!(values),
                "{schema}.{property}: {prop}"
            );
        }
    }

    #[test]
    fn string_properties_get_the_enum() {
        let mut defs: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "io.k8s.api.core.v1.PodSpec": {"properties": {
                "restartPolicy": {"type": "string", "description": "d"}}},
            "io.k8s.api.apps.v1.DeploymentStrategy": {"properties": {
                "type": {"type": "integer"}}},
        }))
        .expect("defs");
        apply(&mut defs);
        assert_eq!(
            defs["io.k8s.api.core.v1.PodSpec"]["properties"]["restartPolicy"]["enum"],
            serde_json::json!(["Always", "Never", "OnFailure"])
        );
        // only string fields
        assert!(
            defs["io.k8s.api.apps.v1.DeploymentStrategy"]["properties"]["type"]
                .get("enum")
                .is_none()
        );
    }
}
