//! API discovery shared by the controllers: which resources exist and what they support.

use kube::discovery::{verbs, ApiCapabilities, ApiResource, Discovery, Scope};
use kube::Client;

/// One served resource (at its group's preferred version) and what it supports.
#[derive(Clone, Debug)]
pub struct Served {
    pub resource: ApiResource,
    pub caps: ApiCapabilities,
}

impl Served {
    pub fn namespaced(&self) -> bool {
        matches!(self.caps.scope, Scope::Namespaced)
    }

    pub fn supports(&self, verb: &str) -> bool {
        self.caps.supports_operation(verb)
    }

    /// Whether the garbage collector watches this resource (see [`ApiMap::collectable`]).
    pub fn collectable(&self) -> bool {
        let events = self.resource.plural == "events"
            && matches!(self.resource.group.as_str(), "" | "events.k8s.io");
        !events
            && [verbs::DELETE, verbs::LIST, verbs::WATCH]
                .iter()
                .all(|v| self.supports(v))
    }
}

/// A snapshot of discovery: the preferred version of every served resource, plus the full
/// discovery cache to resolve any served apiVersion/kind (ownerReferences may name any).
pub struct ApiMap {
    discovery: Discovery,
    pub served: Vec<Served>,
}

impl ApiMap {
    /// Runs discovery against the server (one request per group version).
    pub async fn discover(client: &Client) -> Result<Self, kube::Error> {
        let discovery = Discovery::new(client.clone()).run().await?;
        let mut served = Vec::new();
        for group in discovery.groups() {
            for (resource, caps) in group.recommended_resources() {
                served.push(Served { resource, caps });
            }
        }
        served.sort_by(|a, b| {
            (&a.resource.group, &a.resource.plural).cmp(&(&b.resource.group, &b.resource.plural))
        });
        Ok(Self { discovery, served })
    }

    /// Resources the namespace controller empties: namespaced, listable and deletable.
    pub fn namespaced_deletable(&self) -> impl Iterator<Item = &Served> {
        self.served
            .iter()
            .filter(|s| s.namespaced() && s.supports(verbs::LIST) && s.supports(verbs::DELETE))
    }

    /// Resources the garbage collector keeps a graph of: deletable, listable and watchable,
    /// except Events, as upstream's GC (its default ignored resources). Events are the most
    /// written resource and expire by themselves; watching them cost a write each.
    pub fn collectable(&self) -> impl Iterator<Item = &Served> {
        self.served.iter().filter(|s| s.collectable())
    }

    /// Maps an ownerReference's apiVersion and kind to its resource, if the server serves it.
    pub fn resolve(&self, api_version: &str, kind: &str) -> Option<Served> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
        self.discovery
            .resolve_gvk(&gvk)
            .map(|(resource, caps)| Served { resource, caps })
    }

    /// A stable identity of the served set, to notice new or removed resources.
    pub fn fingerprint(&self) -> Vec<String> {
        self.collectable()
            .map(|s| format!("{}/{}", s.resource.api_version, s.resource.plural))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::discovery::ApiResource;

    fn served(group: &str, plural: &str, verbs: &[&str]) -> Served {
        Served {
            resource: ApiResource {
                group: group.into(),
                version: "v1".into(),
                api_version: if group.is_empty() {
                    "v1".into()
                } else {
                    format!("{group}/v1")
                },
                kind: "K".into(),
                plural: plural.into(),
            },
            caps: ApiCapabilities {
                scope: Scope::Namespaced,
                subresources: Vec::new(),
                operations: verbs.iter().map(|v| v.to_string()).collect(),
            },
        }
    }

    #[test]
    fn the_collector_skips_events_and_what_it_cannot_delete() {
        let all = [
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
        assert!(served("", "pods", &all).collectable());
        assert!(served("apps", "replicasets", &all).collectable());
        assert!(served("example.com", "events", &all).collectable());
        assert!(!served("", "events", &all).collectable());
        assert!(!served("events.k8s.io", "events", &all).collectable());
        // Without delete there is nothing to collect (upstream needs delete, list, watch).
        assert!(!served("", "componentstatuses", &["get", "list", "watch"]).collectable());
        assert!(!served("", "bindings", &["create"]).collectable());
    }
}
