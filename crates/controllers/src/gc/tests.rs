use super::*;

fn oref(uid: &str, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: format!("owner-{uid}"),
        uid: uid.into(),
        block_owner_deletion: block.then_some(true),
        controller: None,
    }
}

fn node(uid: &str, owners: Vec<OwnerReference>) -> Node {
    Node {
        uid: uid.into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("default".into()),
        name: format!("obj-{uid}"),
        owners,
        finalizers: vec![],
        deleting: false,
    }
}

use OwnerState::*;

#[test]
fn no_owners_is_kept() {
    assert_eq!(
        gc_decide(&node("a", vec![]), &[], false, false),
        Decision::Keep
    );
}

#[test]
fn all_owners_gone_deletes_in_background() {
    let n = node("a", vec![oref("o1", false), oref("o2", false)]);
    assert_eq!(
        gc_decide(&n, &[Absent, Absent], false, false),
        Decision::Delete(Propagation::Background)
    );
}

#[test]
fn one_live_owner_keeps_and_drops_dangling_refs() {
    let n = node("a", vec![oref("o1", false), oref("o2", false)]);
    assert_eq!(
        gc_decide(&n, &[Present, Present], false, false),
        Decision::Keep
    );
    assert_eq!(
        gc_decide(&n, &[Present, Absent], false, false),
        Decision::RemoveOwnerRefs(vec!["o2".into()])
    );
    assert_eq!(
        gc_decide(&n, &[DeletingDependents, Present], false, false),
        Decision::RemoveOwnerRefs(vec!["o1".into()])
    );
}

#[test]
fn unknown_owner_blocks_any_decision() {
    let n = node("a", vec![oref("o1", false), oref("o2", false)]);
    assert_eq!(
        gc_decide(&n, &[Unknown, Absent], false, false),
        Decision::Keep
    );
}

#[test]
fn items_being_deleted_are_left_alone() {
    let mut n = node("a", vec![oref("o1", false)]);
    n.deleting = true;
    assert_eq!(gc_decide(&n, &[Absent], false, false), Decision::Keep);
}

#[test]
fn existing_finalizer_chooses_policy() {
    let mut n = node("a", vec![oref("o1", false)]);
    n.finalizers = vec![FINALIZER_ORPHAN.into()];
    assert_eq!(
        gc_decide(&n, &[Absent], false, false),
        Decision::Delete(Propagation::Orphan)
    );
    n.finalizers = vec![FINALIZER_FOREGROUND.into()];
    assert_eq!(
        gc_decide(&n, &[Absent], false, false),
        Decision::Delete(Propagation::Foreground)
    );
}

#[test]
fn foreground_owner_deletes_dependent() {
    let n = node("a", vec![oref("o1", true)]);
    // Without dependents of its own: a plain background delete.
    assert_eq!(
        gc_decide(&n, &[DeletingDependents], false, false),
        Decision::Delete(Propagation::Background)
    );
    // With dependents: foreground, so the chain is deleted bottom-up.
    assert_eq!(
        gc_decide(&n, &[DeletingDependents], true, false),
        Decision::Delete(Propagation::Foreground)
    );
    // A dependent of its own is foreground-deleting too: unblock first to avoid a cycle.
    assert_eq!(
        gc_decide(&n, &[DeletingDependents], true, true),
        Decision::UnblockThenDeleteForeground(vec!["o1".into()])
    );
}

#[test]
fn mismatched_state_count_keeps() {
    let n = node("a", vec![oref("o1", false)]);
    assert_eq!(gc_decide(&n, &[], false, false), Decision::Keep);
}

#[test]
fn orphaning_owner_releases_dependents_then_finalizer() {
    let mut owner = node("o1", vec![]);
    owner.deleting = true;
    owner.finalizers = vec![FINALIZER_ORPHAN.into()];
    let d1 = node("d1", vec![oref("o1", true)]);
    let d2 = node("d2", vec![oref("other", false)]);
    assert_eq!(
        owner_actions(&owner, &[&d1, &d2]),
        vec![
            OwnerAction::OrphanDependents(vec!["d1".into()]),
            OwnerAction::RemoveFinalizer(FINALIZER_ORPHAN)
        ]
    );
    assert_eq!(
        owner_actions(&owner, &[]),
        vec![OwnerAction::RemoveFinalizer(FINALIZER_ORPHAN)]
    );
    // Not deleting yet: the finalizer alone means nothing.
    owner.deleting = false;
    assert!(owner_actions(&owner, &[&d1]).is_empty());
}

#[test]
fn foreground_owner_waits_only_for_blocking_dependents() {
    let mut owner = node("o1", vec![]);
    owner.deleting = true;
    owner.finalizers = vec![FINALIZER_FOREGROUND.into()];
    let blocking = node("d1", vec![oref("o1", true)]);
    let non_blocking = node("d2", vec![oref("o1", false)]);
    assert!(owner_actions(&owner, &[&blocking, &non_blocking]).is_empty());
    assert_eq!(
        owner_actions(&owner, &[&non_blocking]),
        vec![OwnerAction::RemoveFinalizer(FINALIZER_FOREGROUND)]
    );
}

#[test]
fn graph_plan_finds_candidates() {
    let mut g = Graph::default();
    let owner = node("o1", vec![]);
    g.upsert(0, owner.clone());
    g.upsert(0, node("kept", vec![oref("o1", false)]));
    g.upsert(0, node("orphaned", vec![oref("gone", false)]));
    let plan = g.plan();
    assert_eq!(plan.dependents, vec!["orphaned".to_string()]);
    assert!(plan.owners.is_empty());

    // The owner starts a foreground deletion: its dependent becomes a candidate and the
    // owner waits for it (blockOwnerDeletion=true).
    let mut deleting = owner;
    deleting.deleting = true;
    deleting.finalizers = vec![FINALIZER_FOREGROUND.into()];
    g.upsert(0, deleting);
    g.upsert(0, node("kept", vec![oref("o1", true)]));
    let plan = g.plan();
    assert_eq!(
        plan.dependents,
        vec!["kept".to_string(), "orphaned".to_string()]
    );
    assert!(plan.owners.is_empty());

    g.remove("kept");
    let plan = g.plan();
    assert_eq!(
        plan.owners,
        vec![(
            "o1".to_string(),
            vec![OwnerAction::RemoveFinalizer(FINALIZER_FOREGROUND)]
        )]
    );
}

#[test]
fn relist_drops_vanished_nodes_of_that_resource_only() {
    let mut g = Graph::default();
    g.upsert(0, node("a", vec![]));
    g.upsert(0, node("b", vec![]));
    g.upsert(1, node("c", vec![]));
    let listed: HashSet<String> = ["a".to_string()].into_iter().collect();
    g.retain_listed(0, &listed);
    assert!(g.get("a").is_some());
    assert!(g.get("b").is_none());
    assert!(g.get("c").is_some());
    assert_eq!(g.len(), 2);
}

#[test]
fn node_from_meta_needs_uid_and_name() {
    let meta = ObjectMeta {
        name: Some("x".into()),
        uid: Some("u".into()),
        finalizers: Some(vec![FINALIZER_ORPHAN.into()]),
        deletion_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        )),
        ..ObjectMeta::default()
    };
    let n = Node::from_meta("v1", "ConfigMap", &meta).expect("node");
    assert!(n.orphaning_dependents());
    assert!(!n.deleting_dependents());
    let no_uid = ObjectMeta { uid: None, ..meta };
    assert!(Node::from_meta("v1", "ConfigMap", &no_uid).is_none());
}
