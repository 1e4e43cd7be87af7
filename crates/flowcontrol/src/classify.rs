//! Which FlowSchema a request belongs to: upstream's matching rules for subjects, resource
//! rules and non-resource rules, and the flow distinguisher that splits a schema into flows.

use k8s_openapi::api::flowcontrol::v1::{
    FlowSchemaSpec, NonResourcePolicyRule, PolicyRulesWithSubjects, ResourcePolicyRule, Subject,
};

/// What classification needs to know about a request.
#[derive(Clone, Copy, Debug)]
pub struct RequestDigest<'a> {
    pub user: &'a str,
    /// The user's groups, including `system:authenticated` or `system:unauthenticated`.
    pub groups: &'a [String],
    /// The authorization verb (`get`, `list`, `watch`, `create`, …; for non-resource requests
    /// the lower-cased HTTP method).
    pub verb: &'a str,
    /// `None` for non-resource requests (`/healthz`, `/openapi/v3`, …).
    pub resource: Option<ResourceInfo<'a>>,
    /// The URL path.
    pub path: &'a str,
}

#[derive(Clone, Copy, Debug)]
pub struct ResourceInfo<'a> {
    pub api_group: &'a str,
    pub resource: &'a str,
    /// Empty when the request is for the resource itself.
    pub subresource: &'a str,
    /// Empty for cluster-scoped requests (and lists across all namespaces).
    pub namespace: &'a str,
}

const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

pub fn matches_schema(digest: &RequestDigest<'_>, spec: &FlowSchemaSpec) -> bool {
    spec.rules
        .iter()
        .flatten()
        .any(|rule| matches_rule(digest, rule))
}

fn matches_rule(digest: &RequestDigest<'_>, rule: &PolicyRulesWithSubjects) -> bool {
    if !rule.subjects.iter().any(|s| matches_subject(digest, s)) {
        return false;
    }
    match &digest.resource {
        Some(ri) => rule
            .resource_rules
            .iter()
            .flatten()
            .any(|r| matches_resource_rule(digest.verb, ri, r)),
        None => rule
            .non_resource_rules
            .iter()
            .flatten()
            .any(|r| matches_non_resource_rule(digest.verb, digest.path, r)),
    }
}

fn matches_subject(digest: &RequestDigest<'_>, subject: &Subject) -> bool {
    match subject.kind.as_str() {
        "User" => subject
            .user
            .as_ref()
            .is_some_and(|u| u.name == "*" || u.name == digest.user),
        "Group" => subject
            .group
            .as_ref()
            .is_some_and(|g| g.name == "*" || digest.groups.contains(&g.name)),
        "ServiceAccount" => subject.service_account.as_ref().is_some_and(|sa| {
            let Some(rest) = digest.user.strip_prefix(SERVICE_ACCOUNT_PREFIX) else {
                return false;
            };
            let Some(name) = rest
                .strip_prefix(sa.namespace.as_str())
                .and_then(|r| r.strip_prefix(':'))
            else {
                return false;
            };
            sa.name == "*" || sa.name == name
        }),
        _ => false,
    }
}

/// Upstream's rule: a list that is exactly the wildcard matches everything; otherwise an
/// exact member must be present.
fn contains(list: &[String], x: &str, wildcard: &str) -> bool {
    (list.len() == 1 && list[0] == wildcard) || list.iter().any(|y| y == x)
}

fn matches_resource_rule(verb: &str, ri: &ResourceInfo<'_>, rule: &ResourcePolicyRule) -> bool {
    if !contains(&rule.verbs, verb, "*") {
        return false;
    }
    let resource = if ri.subresource.is_empty() {
        ri.resource.to_string()
    } else {
        format!("{}/{}", ri.resource, ri.subresource)
    };
    if !contains(&rule.resources, &resource, "*") || !contains(&rule.api_groups, ri.api_group, "*")
    {
        return false;
    }
    if ri.namespace.is_empty() {
        return rule.cluster_scope.unwrap_or(false);
    }
    contains(rule.namespaces.as_deref().unwrap_or(&[]), ri.namespace, "*")
}

fn matches_non_resource_rule(verb: &str, path: &str, rule: &NonResourcePolicyRule) -> bool {
    if !contains(&rule.verbs, verb, "*") {
        return false;
    }
    rule.non_resource_urls.iter().any(|url| {
        if url == "*" || url == path {
            return true;
        }
        // "/apis/*" and "/apis" both cover everything below /apis/ (upstream's rule).
        let mut prefix = url.trim_end_matches('*').to_string();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        path.starts_with(&prefix)
    })
}

/// The flow a request belongs to within its schema.
pub fn distinguisher<'a>(spec: &FlowSchemaSpec, digest: &RequestDigest<'a>) -> &'a str {
    match spec.distinguisher_method.as_ref().map(|m| m.type_.as_str()) {
        Some("ByUser") => digest.user,
        Some("ByNamespace") => digest.resource.map(|r| r.namespace).unwrap_or(""),
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::flowcontrol::v1::FlowSchema;

    fn schemas() -> Vec<FlowSchema> {
        crate::bootstrap::flow_schemas()
            .into_iter()
            .map(|v| serde_json::from_value(v).expect("bootstrap FlowSchema parses"))
            .collect()
    }

    fn first_match(d: &RequestDigest<'_>) -> String {
        let mut all = schemas();
        all.sort_by(|a, b| {
            let pa = a.spec.as_ref().and_then(|s| s.matching_precedence);
            let pb = b.spec.as_ref().and_then(|s| s.matching_precedence);
            pa.cmp(&pb).then(a.metadata.name.cmp(&b.metadata.name))
        });
        all.iter()
            .find(|fs| matches_schema(d, fs.spec.as_ref().expect("spec")))
            .and_then(|fs| fs.metadata.name.clone())
            .unwrap_or_default()
    }

    fn groups(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bootstrap_schemas_classify_as_upstream() {
        let masters = groups(&["system:masters", "system:authenticated"]);
        let nodes = groups(&["system:nodes", "system:authenticated"]);
        let sa = groups(&[
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated",
        ]);
        let plain = groups(&["system:authenticated"]);
        let pods = |ns| {
            Some(ResourceInfo {
                api_group: "",
                resource: "pods",
                subresource: "",
                namespace: ns,
            })
        };
        let d = |user, groups, verb, resource, path| RequestDigest {
            user,
            groups,
            verb,
            resource,
            path,
        };
        assert_eq!(
            first_match(&d(
                "admin",
                &masters,
                "list",
                pods("default"),
                "/api/v1/pods"
            )),
            "exempt"
        );
        assert_eq!(
            first_match(&d("alice", &plain, "get", None, "/readyz")),
            "probes"
        );
        assert_eq!(
            first_match(&d("alice", &plain, "get", None, "/readyz/ping")),
            "probes"
        );
        assert_eq!(
            first_match(&d("alice", &plain, "list", pods("default"), "/api/v1/pods")),
            "global-default"
        );
        assert_eq!(
            first_match(&d(
                "system:serviceaccount:default:app",
                &sa,
                "list",
                pods("default"),
                "/x"
            )),
            "service-accounts"
        );
        assert_eq!(
            first_match(&d(
                "system:serviceaccount:kube-system:coredns",
                &sa,
                "list",
                pods("default"),
                "/x"
            )),
            "kube-system-service-accounts"
        );
        let node_status = Some(ResourceInfo {
            api_group: "",
            resource: "nodes",
            subresource: "status",
            namespace: "",
        });
        assert_eq!(
            first_match(&d("system:node:n1", &nodes, "patch", node_status, "/x")),
            "system-node-high"
        );
        assert_eq!(
            first_match(&d("system:node:n1", &nodes, "list", pods(""), "/x")),
            "system-nodes"
        );
        let lease = Some(ResourceInfo {
            api_group: "coordination.k8s.io",
            resource: "leases",
            subresource: "",
            namespace: "kube-system",
        });
        assert_eq!(
            first_match(&d("system:kube-scheduler", &plain, "update", lease, "/x")),
            "system-leader-election"
        );
        assert_eq!(
            first_match(&d(
                "system:kube-scheduler",
                &plain,
                "create",
                pods("default"),
                "/x"
            )),
            "kube-scheduler"
        );
        // Cluster-scoped requests need clusterScope: the lease rule has none, so a cluster-wide
        // lease list by the scheduler falls through to its everything-rule.
        let leases_all = Some(ResourceInfo {
            api_group: "coordination.k8s.io",
            resource: "leases",
            subresource: "",
            namespace: "",
        });
        assert_eq!(
            first_match(&d("system:kube-scheduler", &plain, "get", leases_all, "/x")),
            "kube-scheduler"
        );
    }

    #[test]
    fn service_account_subjects_need_the_exact_namespace() {
        let spec: FlowSchemaSpec = serde_json::from_value(serde_json::json!({
            "priorityLevelConfiguration": {"name": "x"},
            "rules": [{
                "subjects": [{"kind": "ServiceAccount", "serviceAccount": {"namespace": "team", "name": "bot"}}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["/metrics"]}],
            }],
        }))
        .expect("spec");
        let g = groups(&["system:authenticated"]);
        let d = |user| RequestDigest {
            user,
            groups: &g,
            verb: "get",
            resource: None,
            path: "/metrics",
        };
        assert!(matches_schema(&d("system:serviceaccount:team:bot"), &spec));
        assert!(!matches_schema(
            &d("system:serviceaccount:team:other"),
            &spec
        ));
        assert!(!matches_schema(
            &d("system:serviceaccount:teams:bot"),
            &spec
        ));
        assert!(!matches_schema(&d("bot"), &spec));
    }

    #[test]
    fn distinguishers_split_flows_by_user_or_namespace() {
        let g = groups(&[]);
        let d = RequestDigest {
            user: "u",
            groups: &g,
            verb: "get",
            resource: Some(ResourceInfo {
                api_group: "",
                resource: "pods",
                subresource: "",
                namespace: "ns1",
            }),
            path: "/x",
        };
        let by = |m: Option<&str>| {
            let spec: FlowSchemaSpec = serde_json::from_value(serde_json::json!({
                "priorityLevelConfiguration": {"name": "x"},
                "distinguisherMethod": m.map(|t| serde_json::json!({"type": t})),
            }))
            .expect("spec");
            distinguisher(&spec, &d).to_string()
        };
        assert_eq!(by(Some("ByUser")), "u");
        assert_eq!(by(Some("ByNamespace")), "ns1");
        assert_eq!(by(None), "");
    }
}
