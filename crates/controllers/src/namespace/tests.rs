use super::*;
use k8s_openapi::api::core::v1::NamespaceSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn ns(deleting: bool, finalizers: &[&str]) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some("ns1".into()),
            deletion_timestamp: deleting.then(|| Time(k8s_openapi::jiff::Timestamp::now())),
            ..ObjectMeta::default()
        },
        spec: Some(NamespaceSpec {
            finalizers: Some(finalizers.iter().map(|s| s.to_string()).collect()),
        }),
        status: None,
    }
}

fn obj(resource: &str, group: &str, name: &str, finalizers: &[&str], deleting: bool) -> ObjectRef {
    ObjectRef {
        group: group.into(),
        version: "v1".into(),
        resource: resource.into(),
        name: name.into(),
        uid: Some(format!("uid-{name}")),
        finalizers: finalizers.iter().map(|s| s.to_string()).collect(),
        deleting,
    }
}

fn condition<'a>(actions: &'a [Action], type_: &str) -> &'a NamespaceCondition {
    actions
        .iter()
        .find_map(|a| match a {
            Action::UpdateStatus(c) => c.iter().find(|c| c.type_ == type_),
            _ => None,
        })
        .expect("condition present")
}

#[test]
fn active_namespace_needs_nothing() {
    let content = NamespaceContent {
        remaining: vec![obj("configmaps", "", "a", &[], false)],
        ..Default::default()
    };
    assert!(namespace_actions(&ns(false, &["kubernetes"]), &content).is_empty());
}

#[test]
fn finalized_namespace_needs_nothing() {
    assert!(namespace_actions(&ns(true, &[]), &NamespaceContent::default()).is_empty());
    assert!(
        namespace_actions(&ns(true, &["example.com/x"]), &NamespaceContent::default()).is_empty()
    );
}

#[test]
fn empty_namespace_is_finalized_keeping_other_finalizers() {
    let actions = namespace_actions(
        &ns(true, &["kubernetes", "example.com/x"]),
        &NamespaceContent::default(),
    );
    assert_eq!(
        actions.last(),
        Some(&Action::Finalize(vec!["example.com/x".into()]))
    );
    let c = condition(&actions, "NamespaceContentRemaining");
    assert_eq!(c.status, "False");
    assert_eq!(c.reason.as_deref(), Some("ContentRemoved"));
}

#[test]
fn content_is_deleted_and_reported() {
    let content = NamespaceContent {
        remaining: vec![
            obj("configmaps", "", "a", &[], false),
            obj("configmaps", "", "b", &[], false),
            obj("deployments", "apps", "d", &["example.com/hold"], true),
        ],
        ..Default::default()
    };
    let actions = namespace_actions(&ns(true, &["kubernetes"]), &content);
    let deletes: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Delete(o) => Some(o.name.as_str()),
            _ => None,
        })
        .collect();
    // The deployment is already being deleted: only its finalizer holds it.
    assert_eq!(deletes, vec!["a", "b"]);
    assert_eq!(actions.last(), Some(&Action::Requeue));
    assert!(!actions.iter().any(|a| matches!(a, Action::Finalize(_))));
    let c = condition(&actions, "NamespaceContentRemaining");
    assert_eq!(c.status, "True");
    assert_eq!(c.reason.as_deref(), Some("SomeResourcesRemain"));
    assert_eq!(
        c.message.as_deref(),
        Some("Some resources are remaining: configmaps. has 2 resource instances, deployments.apps has 1 resource instances")
    );
    let f = condition(&actions, "NamespaceFinalizersRemaining");
    assert_eq!(f.reason.as_deref(), Some("SomeFinalizerRemain"));
    assert_eq!(
        f.message.as_deref(),
        Some("Some finalizers are remaining: example.com/hold in 1 resource instances")
    );
}

#[test]
fn discovery_failure_blocks_finalize() {
    let content = NamespaceContent {
        discovery_error: Some("boom".into()),
        ..Default::default()
    };
    let actions = namespace_actions(&ns(true, &["kubernetes"]), &content);
    assert_eq!(actions.last(), Some(&Action::Requeue));
    let c = condition(&actions, "NamespaceDeletionDiscoveryFailure");
    assert_eq!(c.status, "True");
    assert_eq!(c.reason.as_deref(), Some("DiscoveryFailed"));
}

#[test]
fn delete_errors_block_finalize() {
    let content = NamespaceContent {
        delete_errors: vec!["failed to delete x".into()],
        ..Default::default()
    };
    let actions = namespace_actions(&ns(true, &["kubernetes"]), &content);
    assert_eq!(actions.last(), Some(&Action::Requeue));
    let c = condition(&actions, "NamespaceDeletionContentFailure");
    assert_eq!(
        c.message.as_deref(),
        Some("Failed to delete all resource types, 1 remaining: failed to delete x")
    );
}

#[test]
fn unchanged_conditions_are_not_rewritten() {
    let content = NamespaceContent {
        remaining: vec![obj("secrets", "", "s", &[], true)],
        ..Default::default()
    };
    let mut n = ns(true, &["kubernetes"]);
    let first = namespace_actions(&n, &content);
    let Some(Action::UpdateStatus(conds)) =
        first.iter().find(|a| matches!(a, Action::UpdateStatus(_)))
    else {
        panic!("expected a status update: {first:?}");
    };
    assert_eq!(conds.len(), 5);
    n.status = Some(NamespaceStatus {
        phase: Some("Terminating".into()),
        conditions: Some(conds.clone()),
    });
    let second = namespace_actions(&n, &content);
    assert_eq!(second, vec![Action::Requeue]);
}
