//! Namespace lifecycle: empties a terminating namespace, then releases its `kubernetes`
//! finalizer through the `finalize` subresource so the API server removes it.
//!
//! Follows upstream's namespaced resources deleter: every namespaced resource that supports
//! list and delete is emptied with background propagation; objects that carry their own
//! finalizers are waited for; the status conditions report what remains.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams, Preconditions};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::discovery::ApiMap;
use crate::Error;

/// The finalizer token this controller owns in `spec.finalizers`.
pub const FINALIZER_KUBERNETES: &str = "kubernetes";

/// How long to wait before looking again while content remains.
const CONTENT_RETRY: Duration = Duration::from_secs(1);
/// How long to wait after a failed sync.
const ERROR_RETRY: Duration = Duration::from_secs(2);

/// One object still present in a terminating namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// API group of the resource ("" for core).
    pub group: String,
    /// Version the object was listed at.
    pub version: String,
    /// Plural resource name, e.g. `configmaps`.
    pub resource: String,
    pub name: String,
    pub uid: Option<String>,
    pub finalizers: Vec<String>,
    /// Whether the object already has a deletionTimestamp.
    pub deleting: bool,
}

/// What a sync found in the namespace.
#[derive(Clone, Debug, Default)]
pub struct NamespaceContent {
    pub remaining: Vec<ObjectRef>,
    /// Discovery failed: the content cannot be known, so the namespace must not be released.
    pub discovery_error: Option<String>,
    /// List or delete requests that failed during this sync.
    pub delete_errors: Vec<String>,
}

/// What the namespace controller should do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Delete this object (background propagation, UID precondition).
    Delete(ObjectRef),
    /// Replace `status.conditions` (and make sure the phase is Terminating).
    UpdateStatus(Vec<NamespaceCondition>),
    /// Put these `spec.finalizers` through the finalize subresource.
    Finalize(Vec<String>),
    /// Content remains; look again later.
    Requeue,
}

/// Decides the next steps for a namespace given what is left in it.
pub fn namespace_actions(ns: &Namespace, content: &NamespaceContent) -> Vec<Action> {
    if ns.metadata.deletion_timestamp.is_none() {
        return Vec::new();
    }
    let finalizers = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER_KUBERNETES) {
        // Already finalized by us; other finalizers belong to someone else.
        return Vec::new();
    }
    let mut actions: Vec<Action> = content
        .remaining
        .iter()
        .filter(|o| !o.deleting)
        .cloned()
        .map(Action::Delete)
        .collect();

    let status = ns.status.clone().unwrap_or_default();
    let current = status.conditions.unwrap_or_default();
    let (merged, changed) = merge_conditions(&current, &desired_conditions(content));
    if changed || status.phase.as_deref() != Some("Terminating") {
        actions.push(Action::UpdateStatus(merged));
    }

    if content.remaining.is_empty()
        && content.discovery_error.is_none()
        && content.delete_errors.is_empty()
    {
        let rest = finalizers
            .into_iter()
            .filter(|f| f != FINALIZER_KUBERNETES)
            .collect();
        actions.push(Action::Finalize(rest));
    } else {
        actions.push(Action::Requeue);
    }
    actions
}

/// The condition types upstream maintains on a terminating namespace, in its order.
const CONDITION_TYPES: [&str; 5] = [
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
    "NamespaceDeletionContentFailure",
    "NamespaceContentRemaining",
    "NamespaceFinalizersRemaining",
];

/// (status, reason, message) per condition type, as upstream words them.
fn desired_conditions(content: &NamespaceContent) -> BTreeMap<&'static str, (String, String)> {
    let mut out = BTreeMap::new();
    if let Some(e) = &content.discovery_error {
        out.insert(
            "NamespaceDeletionDiscoveryFailure",
            ("DiscoveryFailed".to_string(), e.clone()),
        );
    }
    if !content.delete_errors.is_empty() {
        let mut msgs = content.delete_errors.clone();
        msgs.sort();
        out.insert(
            "NamespaceDeletionContentFailure",
            (
                "ContentDeletionFailed".to_string(),
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    msgs.len(),
                    msgs.join(", ")
                ),
            ),
        );
    }
    let mut per_resource: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_finalizer: BTreeMap<String, usize> = BTreeMap::new();
    for o in &content.remaining {
        *per_resource
            .entry(format!("{}.{}", o.resource, o.group))
            .or_default() += 1;
        for f in &o.finalizers {
            *per_finalizer.entry(f.clone()).or_default() += 1;
        }
    }
    if !per_resource.is_empty() {
        let mut parts: Vec<String> = per_resource
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect();
        parts.sort();
        out.insert(
            "NamespaceContentRemaining",
            (
                "SomeResourcesRemain".to_string(),
                format!("Some resources are remaining: {}", parts.join(", ")),
            ),
        );
    }
    if !per_finalizer.is_empty() {
        let mut parts: Vec<String> = per_finalizer
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        parts.sort();
        out.insert(
            "NamespaceFinalizersRemaining",
            (
                "SomeFinalizerRemain".to_string(),
                format!("Some finalizers are remaining: {}", parts.join(", ")),
            ),
        );
    }
    out
}

fn ok_condition(type_: &str) -> (&'static str, &'static str) {
    match type_ {
        "NamespaceDeletionDiscoveryFailure" => (
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        "NamespaceDeletionGroupVersionParsingFailure" => (
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        "NamespaceDeletionContentFailure" => (
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        _ => ("ContentRemoved", "All content successfully removed"),
    }
}

/// Merges the wanted conditions into the current ones; the transition time only moves when
/// a condition's status flips. Returns the new list and whether anything changed.
fn merge_conditions(
    current: &[NamespaceCondition],
    failing: &BTreeMap<&'static str, (String, String)>,
) -> (Vec<NamespaceCondition>, bool) {
    let mut out: Vec<NamespaceCondition> = current.to_vec();
    let mut changed = false;
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    for type_ in CONDITION_TYPES {
        let (status, reason, message) = match failing.get(type_) {
            Some((r, m)) => ("True", r.clone(), m.clone()),
            None => {
                let (r, m) = ok_condition(type_);
                ("False", r.to_string(), m.to_string())
            }
        };
        match out.iter_mut().find(|c| c.type_ == type_) {
            None => {
                out.push(NamespaceCondition {
                    type_: type_.to_string(),
                    status: status.to_string(),
                    reason: Some(reason),
                    message: Some(message),
                    last_transition_time: Some(now.clone()),
                });
                changed = true;
            }
            Some(c) => {
                if c.status != status
                    || c.reason.as_deref() != Some(&reason)
                    || c.message.as_deref() != Some(&message)
                {
                    if c.status != status {
                        c.last_transition_time = Some(now.clone());
                    }
                    c.status = status.to_string();
                    c.reason = Some(reason);
                    c.message = Some(message);
                    changed = true;
                }
            }
        }
    }
    (out, changed)
}

struct Ctx {
    client: Client,
}

/// Watches namespaces and finalizes the terminating ones, until the watch ends.
pub async fn run_namespace_controller(client: Client) -> Result<(), Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ctx = Arc::new(Ctx { client });
    Controller::new(api, watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "namespace reconcile failed");
            }
        })
        .await;
    Ok(())
}

fn error_policy(ns: Arc<Namespace>, err: &Error, _ctx: Arc<Ctx>) -> Requeue {
    tracing::warn!(namespace = %ns.name_any(), error = %err, "namespace sync failed");
    Requeue::requeue(ERROR_RETRY)
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Requeue, Error> {
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(Requeue::await_change());
    }
    let name = ns.name_any();
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    // Two rounds: delete what is there, then look again so a namespace whose content went
    // away at once is released in the same sync.
    for _ in 0..2 {
        // Level-triggered: act on the latest namespace, not the event that woke us.
        let Some(ns) = api.get_opt(&name).await? else {
            return Ok(Requeue::await_change());
        };
        let mut content = list_content(&ctx.client, &name).await;
        let actions = namespace_actions(&ns, &content);
        if actions.is_empty() {
            return Ok(Requeue::await_change());
        }
        let mut deleted = false;
        let mut requeue = false;
        for action in actions {
            match action {
                Action::Delete(obj) => {
                    deleted = true;
                    if let Err(e) = delete_object(&ctx.client, &name, &obj).await {
                        content.delete_errors.push(e);
                    }
                }
                Action::UpdateStatus(conditions) => {
                    let mut updated = ns.clone();
                    let status = updated.status.get_or_insert_with(NamespaceStatus::default);
                    status.phase = Some("Terminating".to_string());
                    status.conditions = Some(conditions);
                    if let Err(e) = api
                        .replace_status(&name, &PostParams::default(), &updated)
                        .await
                    {
                        // A conflict only means someone else wrote first; the next sync retries.
                        tracing::debug!(namespace = %name, error = %e, "namespace status update failed");
                    }
                }
                Action::Finalize(finalizers) => {
                    finalize(&api, &name, finalizers).await?;
                    tracing::info!(namespace = %name, "namespace content removed; finalized");
                    return Ok(Requeue::await_change());
                }
                Action::Requeue => requeue = true,
            }
        }
        if !deleted && requeue {
            break;
        }
    }
    Ok(Requeue::requeue(CONTENT_RETRY))
}

/// Releases the `kubernetes` finalizer through the finalize subresource, retrying conflicts.
async fn finalize(api: &Api<Namespace>, name: &str, finalizers: Vec<String>) -> Result<(), Error> {
    let mut want = finalizers;
    for _ in 0..5 {
        let Some(mut ns) = api.get_opt(name).await? else {
            return Ok(());
        };
        let spec = ns.spec.get_or_insert_with(Default::default);
        // Keep finalizers added meanwhile by others; only ours goes.
        if let Some(current) = &spec.finalizers {
            want = current
                .iter()
                .filter(|f| *f != FINALIZER_KUBERNETES)
                .cloned()
                .collect();
        }
        spec.finalizers = Some(want.clone());
        match api
            .replace_subresource("finalize", name, &PostParams::default(), &ns)
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Lists every object left in the namespace across all namespaced, deletable resources.
async fn list_content(client: &Client, ns: &str) -> NamespaceContent {
    let mut content = NamespaceContent::default();
    let map = match ApiMap::discover(client).await {
        Ok(m) => m,
        Err(e) => {
            content.discovery_error = Some(format!("Discovery failed: {e}"));
            return content;
        }
    };
    for served in map.namespaced_deletable() {
        let ar = &served.resource;
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, ar);
        match api.list(&ListParams::default()).await {
            Ok(list) => {
                for obj in list.items {
                    content.remaining.push(ObjectRef {
                        group: ar.group.clone(),
                        version: ar.version.clone(),
                        resource: ar.plural.clone(),
                        name: obj.name_any(),
                        uid: obj.metadata.uid.clone(),
                        finalizers: obj.metadata.finalizers.clone().unwrap_or_default(),
                        deleting: obj.metadata.deletion_timestamp.is_some(),
                    });
                }
            }
            // Served in discovery but not listable in practice: nothing we can remove.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 405 => {}
            Err(e) => content
                .delete_errors
                .push(format!("failed to list {}.{}: {e}", ar.plural, ar.group)),
        }
    }
    content
}

async fn delete_object(client: &Client, ns: &str, obj: &ObjectRef) -> Result<(), String> {
    let ar = kube::discovery::ApiResource {
        group: obj.group.clone(),
        version: obj.version.clone(),
        api_version: if obj.group.is_empty() {
            obj.version.clone()
        } else {
            format!("{}/{}", obj.group, obj.version)
        },
        kind: String::new(),
        plural: obj.resource.clone(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let mut dp = DeleteParams::background();
    dp.preconditions = Some(Preconditions {
        uid: obj.uid.clone(),
        resource_version: None,
    });
    match api.delete(&obj.name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(format!(
            "failed to delete {}.{} {}: {e}",
            obj.resource, obj.group, obj.name
        )),
    }
}

#[cfg(test)]
mod tests;
