//! The built-in resources, as upstream Kubernetes 1.33 serves them.

use std::sync::Arc;

use crate::info::{ResourceInfo, ScaleInfo, SubresourceInfo};
use crate::kinds;
use crate::registry::Entry;

const CRUD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CREATE_ONLY: &[&str] = &["create"];
const GET_LIST: &[&str] = &["get", "list"];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

/// A compact description turned into a [`ResourceInfo`].
struct Def {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    verbs: &'static [&'static str],
    /// `status`, `scale` or other subresources with their response kind.
    subs: &'static [(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    )],
    storage: bool,
    persisted: bool,
}

const fn def(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Def {
    Def {
        group,
        version,
        kind,
        plural,
        namespaced,
        short: &[],
        categories: &[],
        verbs: CRUD,
        subs: &[],
        storage: true,
        persisted: true,
    }
}

impl Def {
    const fn short(mut self, s: &'static [&'static str]) -> Self {
        self.short = s;
        self
    }
    const fn all(mut self) -> Self {
        self.categories = &["all"];
        self
    }
    const fn verbs(mut self, v: &'static [&'static str]) -> Self {
        self.verbs = v;
        self
    }
    const fn subs(
        mut self,
        s: &'static [(
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static [&'static str],
        )],
    ) -> Self {
        self.subs = s;
        self
    }
    const fn served_only(mut self) -> Self {
        self.storage = false;
        self
    }
    const fn virtual_kind(mut self) -> Self {
        self.persisted = false;
        self
    }
}

const STATUS: (&str, &str, &str, &str, &[&str]) = ("status", "", "", "", STATUS_VERBS);
const SCALE: (&str, &str, &str, &str, &[&str]) =
    ("scale", "autoscaling", "v1", "Scale", STATUS_VERBS);

fn defs() -> Vec<Def> {
    vec![
        // core/v1
        def("", "v1", "Binding", "bindings", true)
            .verbs(CREATE_ONLY)
            .virtual_kind(),
        def("", "v1", "ComponentStatus", "componentstatuses", false)
            .short(&["cs"])
            .verbs(GET_LIST)
            .virtual_kind(),
        def("", "v1", "ConfigMap", "configmaps", true).short(&["cm"]),
        def("", "v1", "Endpoints", "endpoints", true).short(&["ep"]),
        def("", "v1", "Event", "events", true).short(&["ev"]),
        def("", "v1", "LimitRange", "limitranges", true).short(&["limits"]),
        def("", "v1", "Namespace", "namespaces", false)
            .short(&["ns"])
            .verbs(&[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ])
            .subs(&[("finalize", "", "", "", &["update"]), STATUS]),
        def("", "v1", "Node", "nodes", false).short(&["no"]).subs(&[
            (
                "proxy",
                "",
                "",
                "NodeProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
            STATUS,
        ]),
        def(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
        )
        .short(&["pvc"])
        .subs(&[STATUS]),
        def("", "v1", "PersistentVolume", "persistentvolumes", false)
            .short(&["pv"])
            .subs(&[STATUS]),
        def("", "v1", "Pod", "pods", true)
            .short(&["po"])
            .all()
            .subs(&[
                ("attach", "", "", "PodAttachOptions", &["create", "get"]),
                ("binding", "", "", "Binding", CREATE_ONLY),
                ("ephemeralcontainers", "", "", "", STATUS_VERBS),
                ("eviction", "policy", "v1", "Eviction", CREATE_ONLY),
                ("exec", "", "", "PodExecOptions", &["create", "get"]),
                ("log", "", "", "", &["get"]),
                (
                    "portforward",
                    "",
                    "",
                    "PodPortForwardOptions",
                    &["create", "get"],
                ),
                (
                    "proxy",
                    "",
                    "",
                    "PodProxyOptions",
                    &["create", "delete", "get", "patch", "update"],
                ),
                STATUS,
            ]),
        def("", "v1", "PodTemplate", "podtemplates", true),
        def(
            "",
            "v1",
            "ReplicationController",
            "replicationcontrollers",
            true,
        )
        .short(&["rc"])
        .all()
        .subs(&[SCALE, STATUS]),
        def("", "v1", "ResourceQuota", "resourcequotas", true)
            .short(&["quota"])
            .subs(&[STATUS]),
        def("", "v1", "Secret", "secrets", true),
        def("", "v1", "ServiceAccount", "serviceaccounts", true)
            .short(&["sa"])
            .subs(&[(
                "token",
                "authentication.k8s.io",
                "v1",
                "TokenRequest",
                CREATE_ONLY,
            )]),
        def("", "v1", "Service", "services", true)
            .short(&["svc"])
            .all()
            .subs(&[
                (
                    "proxy",
                    "",
                    "",
                    "ServiceProxyOptions",
                    &["create", "delete", "get", "patch", "update"],
                ),
                STATUS,
            ]),
        // admissionregistration.k8s.io
        def(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            false,
        ),
        def(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            false,
        ),
        // apiextensions.k8s.io
        def(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
        .short(&["crd", "crds"])
        .subs(&[STATUS]),
        // apps/v1
        def(
            "apps",
            "v1",
            "ControllerRevision",
            "controllerrevisions",
            true,
        ),
        def("apps", "v1", "DaemonSet", "daemonsets", true)
            .short(&["ds"])
            .all()
            .subs(&[STATUS]),
        def("apps", "v1", "Deployment", "deployments", true)
            .short(&["deploy"])
            .all()
            .subs(&[SCALE, STATUS]),
        def("apps", "v1", "ReplicaSet", "replicasets", true)
            .short(&["rs"])
            .all()
            .subs(&[SCALE, STATUS]),
        def("apps", "v1", "StatefulSet", "statefulsets", true)
            .short(&["sts"])
            .all()
            .subs(&[SCALE, STATUS]),
        // authentication.k8s.io
        def(
            "authentication.k8s.io",
            "v1",
            "SelfSubjectReview",
            "selfsubjectreviews",
            false,
        )
        .verbs(CREATE_ONLY)
        .virtual_kind(),
        def(
            "authentication.k8s.io",
            "v1",
            "TokenReview",
            "tokenreviews",
            false,
        )
        .verbs(CREATE_ONLY)
        .virtual_kind(),
        // authorization.k8s.io
        def(
            "authorization.k8s.io",
            "v1",
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
            true,
        )
        .verbs(CREATE_ONLY)
        .virtual_kind(),
        def(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            false,
        )
        .verbs(CREATE_ONLY)
        .virtual_kind(),
        def(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            false,
        )
        .verbs(CREATE_ONLY)
        .virtual_kind(),
        def(
            "authorization.k8s.io",
            "v1",
            "SubjectAccessReview",
            "subjectaccessreviews",
            false,
        )
        .verbs(CREATE_ONLY)
        .virtual_kind(),
        // autoscaling: v2 is stored and preferred, v1 is served by conversion
        def(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
        )
        .short(&["hpa"])
        .all()
        .subs(&[STATUS]),
        def(
            "autoscaling",
            "v1",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
        )
        .short(&["hpa"])
        .all()
        .subs(&[STATUS])
        .served_only(),
        // batch/v1
        def("batch", "v1", "CronJob", "cronjobs", true)
            .short(&["cj"])
            .all()
            .subs(&[STATUS]),
        def("batch", "v1", "Job", "jobs", true)
            .all()
            .subs(&[STATUS]),
        // certificates.k8s.io
        def(
            "certificates.k8s.io",
            "v1",
            "CertificateSigningRequest",
            "certificatesigningrequests",
            false,
        )
        .short(&["csr"])
        .subs(&[("approval", "", "", "", STATUS_VERBS), STATUS]),
        // coordination.k8s.io
        def("coordination.k8s.io", "v1", "Lease", "leases", true),
        // discovery.k8s.io
        def(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            true,
        ),
        // events.k8s.io: served by conversion from core/v1 Events, which hold the objects
        // (upstream stores both as one resource)
        def("events.k8s.io", "v1", "Event", "events", true)
            .short(&["ev"])
            .served_only(),
        // flowcontrol.apiserver.k8s.io
        def(
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "FlowSchema",
            "flowschemas",
            false,
        )
        .subs(&[STATUS]),
        def(
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "PriorityLevelConfiguration",
            "prioritylevelconfigurations",
            false,
        )
        .subs(&[STATUS]),
        // networking.k8s.io
        def(
            "networking.k8s.io",
            "v1",
            "IngressClass",
            "ingressclasses",
            false,
        ),
        def("networking.k8s.io", "v1", "Ingress", "ingresses", true)
            .short(&["ing"])
            .subs(&[STATUS]),
        def(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
        )
        .short(&["netpol"]),
        // node.k8s.io
        def("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", false),
        // policy/v1
        def(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        )
        .short(&["pdb"])
        .subs(&[STATUS]),
        // rbac.authorization.k8s.io
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
        ),
        def("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
        // scheduling.k8s.io
        def(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
            false,
        )
        .short(&["pc"]),
        // storage.k8s.io
        def("storage.k8s.io", "v1", "CSIDriver", "csidrivers", false),
        def("storage.k8s.io", "v1", "CSINode", "csinodes", false),
        def(
            "storage.k8s.io",
            "v1",
            "CSIStorageCapacity",
            "csistoragecapacities",
            true,
        ),
        def(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            false,
        )
        .short(&["sc"]),
        def(
            "storage.k8s.io",
            "v1",
            "VolumeAttachment",
            "volumeattachments",
            false,
        )
        .subs(&[STATUS]),
    ]
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

/// The singular name upstream reports (`endpoints` stays `endpoints`).
fn singular(kind: &str) -> String {
    kind.to_lowercase()
}

/// Every built-in scalable kind keeps replicas and selector in the same places.
fn scale_info() -> ScaleInfo {
    ScaleInfo {
        spec_replicas: "/spec/replicas".into(),
        status_replicas: "/status/replicas".into(),
        label_selector: Some("/spec/selector".into()),
    }
}

/// Every built-in resource with its strategy.
pub fn entries() -> Vec<Entry> {
    defs()
        .into_iter()
        .map(|d| {
            let subresources: Vec<SubresourceInfo> = d
                .subs
                .iter()
                .map(|(name, g, v, k, verbs)| {
                    let (group, version, kind) = if k.is_empty() {
                        (d.group, d.version, d.kind)
                    } else if v.is_empty() {
                        (d.group, d.version, *k)
                    } else {
                        (*g, *v, *k)
                    };
                    SubresourceInfo {
                        name: name.to_string(),
                        group: group.to_string(),
                        version: version.to_string(),
                        kind: kind.to_string(),
                        verbs: strings(verbs),
                    }
                })
                .collect();
            let has_status = subresources.iter().any(|s| s.name == "status");
            let scale = subresources
                .iter()
                .any(|s| s.name == "scale")
                .then(scale_info);
            let info = ResourceInfo {
                group: d.group.to_string(),
                version: d.version.to_string(),
                kind: d.kind.to_string(),
                list_kind: format!("{}List", d.kind),
                plural: d.plural.to_string(),
                singular: singular(d.kind),
                namespaced: d.namespaced,
                short_names: strings(d.short),
                categories: strings(d.categories),
                verbs: strings(d.verbs),
                subresources,
                has_status,
                scale,
                storage_version: d.storage,
                persisted: d.persisted,
                custom: false,
            };
            Entry {
                strategy: kinds::strategy_for(&info),
                info: Arc::new(info),
            }
        })
        .collect()
}
