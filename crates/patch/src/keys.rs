//! How each list of the built-in types merges.
//!
//! Upstream records this on the Go types (`patchStrategy`/`patchMergeKey` for strategic merge
//! patch, `listType`/`listMapKeys` for server-side apply) and publishes it in OpenAPI. We have
//! only the JSON, so the rules are keyed by the field path from the object's root, with array
//! indices left out (`["spec", "template", "spec", "containers"]`). Where a field name means
//! different things in different types (`ports`), the path and the kind decide.

/// How a list merges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// Replaced whole (the default for lists without a strategy).
    Atomic,
    /// A set of scalars, merged by value (e.g. `metadata.finalizers`).
    Set,
    /// A list of objects identified by these keys; the first is the strategic-merge-patch
    /// merge key.
    Map(Vec<&'static str>),
}

impl ListType {
    /// The strategic-merge-patch merge key, for associative lists.
    pub fn merge_key(&self) -> Option<&'static str> {
        match self {
            ListType::Map(keys) => keys.first().copied(),
            _ => None,
        }
    }
}

const POD_CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

fn inside_container(path: &[&str]) -> bool {
    path.iter().any(|p| POD_CONTAINER_LISTS.contains(p))
}

/// The list type of the list at `path` in an object of `kind` (built-in kinds; custom
/// resources pass their kind too but get [`ListType::Atomic`] unless their schema says
/// otherwise, which the caller handles).
pub fn list_type(kind: &str, path: &[&str]) -> ListType {
    let Some((last, parents)) = path.split_last() else {
        return ListType::Atomic;
    };
    let parent = parents.last().copied().unwrap_or("");
    match *last {
        "finalizers" if parent == "metadata" => ListType::Set,
        "ownerReferences" if parent == "metadata" => ListType::Map(vec!["uid"]),
        "managedFields" => ListType::Atomic,
        "containers" | "initContainers" | "ephemeralContainers" if is_pod_spec(kind, parents) => {
            ListType::Map(vec!["name"])
        }
        "volumes" if is_pod_spec(kind, parents) => ListType::Map(vec!["name"]),
        // ServiceAccount.imagePullSecrets has no strategy: only the PodSpec one merges.
        "imagePullSecrets" if is_pod_spec(kind, parents) => ListType::Map(vec!["name"]),
        "hostAliases" if is_pod_spec(kind, parents) => ListType::Map(vec!["ip"]),
        "topologySpreadConstraints" if is_pod_spec(kind, parents) => {
            ListType::Map(vec!["topologyKey", "whenUnsatisfiable"])
        }
        "schedulingGates" if is_pod_spec(kind, parents) => ListType::Map(vec!["name"]),
        "resourceClaims" if is_pod_spec(kind, parents) => ListType::Map(vec!["name"]),
        "resourceClaimStatuses" if kind == "Pod" && parents == ["status"] => {
            ListType::Map(vec!["name"])
        }
        "podCIDRs" if kind == "Node" && parents == ["spec"] => ListType::Set,
        "env" if inside_container(parents) => ListType::Map(vec!["name"]),
        "volumeMounts" if inside_container(parents) => ListType::Map(vec!["mountPath"]),
        "volumeDevices" if inside_container(parents) => ListType::Map(vec!["devicePath"]),
        "resizePolicy" if inside_container(parents) => ListType::Atomic,
        "ports" if inside_container(parents) => ListType::Map(vec!["containerPort", "protocol"]),
        "ports" if (kind == "Service" && parents == ["spec"]) => {
            ListType::Map(vec!["port", "protocol"])
        }
        "conditions" if parents.first() == Some(&"status") => ListType::Map(vec!["type"]),
        "addresses" if kind == "Node" && parents == ["status"] => ListType::Map(vec!["type"]),
        "podIPs" | "hostIPs" if parents == ["status"] => ListType::Map(vec!["ip"]),
        "secrets" if kind == "ServiceAccount" && parents.is_empty() => ListType::Map(vec!["name"]),
        _ => ListType::Atomic,
    }
}

/// True when `parents` ends at a PodSpec: a Pod's `spec`, or a `template.spec` at any depth
/// (Deployment, Job, CronJob's `jobTemplate.spec.template.spec`, PodTemplate's `template.spec`).
fn is_pod_spec(kind: &str, parents: &[&str]) -> bool {
    match parents {
        ["spec"] => kind == "Pod",
        [.., "template", "spec"] => true,
        _ => false,
    }
}

/// Whether the elements of the list at `path` keep only the keys a patch names when it sets a
/// member (`retainKeys`): the pod volume list's elements (so switching a volume's source from
/// `emptyDir` to `configMap` removes the old source).
/// The same holds for `PodSpec.resourceClaims` and `PodStatus.resourceClaimStatuses`.
pub fn retains_keys(kind: &str, path: &[&str]) -> bool {
    match path.split_last() {
        Some((&("volumes" | "resourceClaims"), parents)) => is_pod_spec(kind, parents),
        Some((&"resourceClaimStatuses", parents)) => kind == "Pod" && parents == ["status"],
        _ => false,
    }
}

/// Whether the object at `path` is a `retainKeys` struct: only Deployment `spec.strategy`
/// among the built-in types (DaemonSet's `updateStrategy` has no such tag upstream).
pub fn struct_retains_keys(kind: &str, path: &[&str]) -> bool {
    matches!((kind, path), ("Deployment", ["spec", "strategy"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_depend_on_the_type() {
        assert_eq!(
            list_type(
                "Deployment",
                &["spec", "template", "spec", "containers", "ports"]
            ),
            ListType::Map(vec!["containerPort", "protocol"])
        );
        assert_eq!(
            list_type("Service", &["spec", "ports"]),
            ListType::Map(vec!["port", "protocol"])
        );
        assert_eq!(list_type("EndpointSlice", &["ports"]), ListType::Atomic);
    }

    #[test]
    fn pod_lists() {
        assert_eq!(
            list_type("Pod", &["spec", "containers"]).merge_key(),
            Some("name")
        );
        assert_eq!(
            list_type(
                "CronJob",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "initContainers"
                ]
            )
            .merge_key(),
            Some("name")
        );
        assert_eq!(list_type("Pod", &["spec", "tolerations"]), ListType::Atomic);
        assert_eq!(list_type("Pod", &["metadata", "finalizers"]), ListType::Set);
        assert!(retains_keys(
            "Deployment",
            &["spec", "template", "spec", "volumes"]
        ));
        assert!(!retains_keys("Pod", &["spec", "containers"]));
        assert!(struct_retains_keys("Deployment", &["spec", "strategy"]));
        assert!(!struct_retains_keys(
            "DaemonSet",
            &["spec", "updateStrategy"]
        ));
    }

    #[test]
    fn pod_spec_only_lists() {
        assert_eq!(
            list_type("ServiceAccount", &["imagePullSecrets"]),
            ListType::Atomic
        );
        assert_eq!(
            list_type("ServiceAccount", &["secrets"]).merge_key(),
            Some("name")
        );
        assert_eq!(
            list_type("Pod", &["spec", "imagePullSecrets"]).merge_key(),
            Some("name")
        );
        assert_eq!(list_type("Node", &["spec", "podCIDRs"]), ListType::Set);
    }
}
