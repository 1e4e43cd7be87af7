use super::*;
use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use serde_json::json;

const NOW: i64 = 2_000_000;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

fn deploy(replicas: i32, image: &str, surge: Value, unavailable: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "d", "uid": "dep", "generation": 1,
                     "resourceVersion": "1"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": image}]}}
        }
    }))
    .unwrap()
}

fn ios(v: &Value) -> IntOrString {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn fnv_and_safe_encoding_match_upstream() {
    assert_eq!(fnv32a(b""), 0x811c_9dc5);
    assert_eq!(fnv32a(b"a"), 0xe40c_292c);
    assert_eq!(fnv32a(b"foobar"), 0xbf9c_f968);
    // `web-app-666b84bc99` from upstream's reference output decodes to the uint32 2226406755.
    assert_eq!(safe_encode_string("2226406755"), "666b84bc99");
    assert_eq!(safe_encode_string("0123456789"), "456789bcdf");
}

#[test]
fn hash_is_stable_and_sensitive_to_template_and_collisions() {
    let d = deploy(3, "nginx:1.25", json!(1), json!(0));
    let t = d.spec.as_ref().unwrap().template.clone();
    let h = compute_hash(&t, None);
    assert_eq!(h, compute_hash(&t, None));
    assert!(h.len() <= 10 && h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    assert_ne!(h, compute_hash(&t, Some(1)));
    let other = deploy(3, "nginx:1.26", json!(1), json!(0));
    assert_ne!(
        h,
        compute_hash(&other.spec.as_ref().unwrap().template, None)
    );
    // The hash label itself does not change the hash or equality.
    let mut labelled = t.clone();
    labelled
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert(POD_TEMPLATE_HASH.into(), h.clone());
    assert_eq!(h, compute_hash(&labelled, None));
    assert!(equal_ignore_hash(&t, &labelled));
}

#[test]
fn fenceposts_round_surge_up_and_unavailable_down() {
    let p = |s: Value, u: Value, n| resolve_fenceposts(Some(&ios(&s)), Some(&ios(&u)), n);
    assert_eq!(p(json!("25%"), json!("25%"), 3), (1, 0));
    assert_eq!(p(json!("25%"), json!("25%"), 10), (3, 2));
    assert_eq!(p(json!(1), json!(0), 3), (1, 0));
    assert_eq!(p(json!(0), json!("1%"), 2), (0, 1));
    assert_eq!(p(json!("50%"), json!("50%"), 5), (3, 2));
    let d = deploy(3, "i", json!("25%"), json!("25%"));
    assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 0));
    let d = deploy(2, "i", json!(0), json!(5));
    assert_eq!(max_unavailable(&d), 2);
}

/// A tiny world: the plan's steps applied to ReplicaSets, pods made available on demand.
struct World {
    d: Deployment,
    rss: Vec<ReplicaSet>,
    events: Vec<String>,
    clock: i64,
}

impl World {
    fn apply(&mut self, plan: &Plan) {
        for step in &plan.steps {
            match step {
                Step::CreateReplicaSet(rs) => {
                    let mut rs = rs.clone();
                    self.clock += 1;
                    rs.metadata.uid = Some(format!("uid-{}", rs.name_any()));
                    rs.metadata.creation_timestamp = Some(Time(ts(self.clock)));
                    rs.metadata.generation = Some(1);
                    rs.status = Some(ReplicaSetStatus::default());
                    self.rss.push(rs);
                }
                Step::UpdateReplicaSet(rs) => {
                    let cur = self
                        .rss
                        .iter_mut()
                        .find(|r| r.name_any() == rs.name_any())
                        .unwrap();
                    let status = cur.status.clone();
                    *cur = rs.clone();
                    cur.status = status;
                }
                Step::DeleteReplicaSet { name, .. } => self.rss.retain(|r| r.name_any() != *name),
                Step::SetRevision(r) => {
                    self.d
                        .metadata
                        .annotations
                        .get_or_insert_with(BTreeMap::new)
                        .insert(REVISION.into(), r.clone());
                }
                Step::UpdateStatus(s) => self.d.status = Some(s.clone()),
                Step::Event { message, .. } => self.events.push(message.clone()),
            }
        }
    }

    /// The ReplicaSet controller and kubelet: every pod exists and is available.
    fn settle_pods(&mut self) {
        for rs in &mut self.rss {
            let n = rs_replicas(rs);
            rs.status = Some(ReplicaSetStatus {
                replicas: n,
                ready_replicas: Some(n),
                available_replicas: Some(n),
                fully_labeled_replicas: Some(n),
                observed_generation: rs.metadata.generation,
                conditions: None,
                terminating_replicas: None,
            });
        }
    }

    fn plan(&self) -> Plan {
        let owned = self.rss.clone();
        plan_deployment(&self.d, owned, &self.rss, &HashMap::new(), ts(NOW))
    }

    fn sizes(&self) -> Vec<(String, i32)> {
        self.rss
            .iter()
            .map(|r| (r.name_any(), rs_replicas(r)))
            .collect()
    }
}

fn roll(world: &mut World, max_total: i32, min_available: i32) -> usize {
    for round in 0..50 {
        let plan = world.plan();
        world.apply(&plan);
        let total: i32 = world.rss.iter().map(rs_replicas).sum();
        assert!(
            total <= max_total,
            "round {round}: {total} pods > {max_total}: {:?}",
            world.sizes()
        );
        // Pods that exist and are available right after the plan (before new ones are ready).
        let available: i32 = world
            .rss
            .iter()
            .map(|r| rs_replicas(r).min(rs_status(r).2))
            .sum();
        assert!(
            available >= min_available,
            "round {round}: {available} available < {min_available}: {:?}",
            world.sizes()
        );
        if plan.steps.is_empty() {
            return round;
        }
        world.settle_pods();
    }
    panic!("rollout did not converge: {:?}", world.sizes());
}

#[test]
fn first_rollout_creates_rs_with_hash_name_labels_and_annotations() {
    let d = deploy(3, "nginx:1.25", json!(1), json!(0));
    let plan = plan_deployment(&d, vec![], &[], &HashMap::new(), ts(NOW));
    let Step::CreateReplicaSet(rs) = &plan.steps[0] else {
        panic!("first step creates the replica set: {:?}", plan.steps)
    };
    let hash = compute_hash(&d.spec.as_ref().unwrap().template, None);
    assert_eq!(rs.name_any(), format!("web-{hash}"));
    assert_eq!(rs.labels()[POD_TEMPLATE_HASH], hash);
    let spec = rs.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(
        spec.selector.match_labels.as_ref().unwrap()[POD_TEMPLATE_HASH],
        hash
    );
    let tl = spec
        .template
        .as_ref()
        .unwrap()
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    assert_eq!(tl[POD_TEMPLATE_HASH], hash);
    let anns = rs.metadata.annotations.as_ref().unwrap();
    assert_eq!(anns[REVISION], "1");
    assert_eq!(anns[DESIRED_REPLICAS], "3");
    assert_eq!(anns[MAX_REPLICAS], "4");
    let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("Deployment", "dep", Some(true))
    );
    assert!(plan.steps.contains(&Step::Event {
        type_: EventType::Normal,
        reason: "ScalingReplicaSet".into(),
        message: format!("Scaled up replica set web-{hash} from 0 to 3"),
    }));
    assert!(plan.steps.contains(&Step::SetRevision("1".into())));
    let Some(Step::UpdateStatus(st)) = plan.steps.last() else {
        panic!("ends with a status update")
    };
    let conds: Vec<(&str, &str, &str)> = st
        .conditions
        .iter()
        .flatten()
        .map(|c| {
            (
                c.type_.as_str(),
                c.status.as_str(),
                c.reason.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        conds,
        vec![
            ("Progressing", "True", "NewReplicaSetCreated"),
            ("Available", "False", "MinimumReplicasUnavailable"),
        ]
    );
    assert_eq!(st.observed_generation, Some(1));
}

#[test]
fn rolling_update_3_surge_1_unavailable_0_keeps_3_available() {
    let mut w = World {
        d: deploy(3, "v1", json!(1), json!(0)),
        rss: vec![],
        events: vec![],
        clock: 0,
    };
    roll(&mut w, 4, 0);
    let st = w.d.status.clone().unwrap();
    assert_eq!((st.replicas, st.available_replicas), (Some(3), Some(3)));
    let progressing = condition(&st, "Progressing").unwrap();
    assert_eq!(progressing.reason.as_deref(), Some(REASON_NEW_RS_AVAILABLE));
    let first = w.rss[0].name_any();
    assert_eq!(
        progressing.message.as_deref(),
        Some(format!("ReplicaSet \"{first}\" has successfully progressed.").as_str())
    );
    assert_eq!(
        condition(&st, "Available").unwrap().reason.as_deref(),
        Some(REASON_MIN_AVAILABLE)
    );

    // New image: surge one at a time, never below 3 available, never above 4 pods.
    w.d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some("v2".into());
    w.d.metadata.generation = Some(2);
    w.events.clear();
    roll(&mut w, 4, 3);
    let sizes = w.sizes();
    assert_eq!(sizes.len(), 2);
    assert_eq!(sizes[0].1, 0);
    assert_eq!(sizes[1].1, 3);
    let (old, new) = (sizes[0].0.clone(), sizes[1].0.clone());
    assert_eq!(
        w.events,
        vec![
            format!("Scaled up replica set {new} from 0 to 1"),
            format!("Scaled down replica set {old} from 3 to 2"),
            format!("Scaled up replica set {new} from 1 to 2"),
            format!("Scaled down replica set {old} from 2 to 1"),
            format!("Scaled up replica set {new} from 2 to 3"),
            format!("Scaled down replica set {old} from 1 to 0"),
        ]
    );
    assert_eq!(annotation(&w.d.metadata, REVISION), Some("2"));
    assert_eq!(annotation(&w.rss[1].metadata, REVISION), Some("2"));
    let st = w.d.status.clone().unwrap();
    assert!(deployment_complete(&w.d, &st));
    assert_eq!(st.updated_replicas, Some(3));

    // Rollback: the template matches the first RS again; it is reused as revision 3.
    w.d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some("v1".into());
    w.d.metadata.generation = Some(3);
    roll(&mut w, 4, 3);
    assert_eq!(w.rss.len(), 2, "no third replica set");
    assert_eq!(rs_replicas(&w.rss[0]), 3);
    assert_eq!(annotation(&w.rss[0].metadata, REVISION), Some("3"));
    assert_eq!(annotation(&w.rss[0].metadata, REVISION_HISTORY), Some("1"));
    assert_eq!(annotation(&w.d.metadata, REVISION), Some("3"));
}

#[test]
fn rolling_update_with_default_25_percent_on_10() {
    let mut w = World {
        d: deploy(10, "v1", json!("25%"), json!("25%")),
        rss: vec![],
        events: vec![],
        clock: 0,
    };
    roll(&mut w, 13, 0);
    w.d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some("v2".into());
    w.d.metadata.generation = Some(2);
    w.events.clear();
    roll(&mut w, 13, 8);
    // Surge 3 and 2 unavailable: the new RS starts at 3, the old one drops to the 8 minimum.
    assert_eq!(
        w.events[0],
        format!("Scaled up replica set {} from 0 to 3", w.rss[1].name_any())
    );
    assert_eq!(
        w.events[1],
        format!(
            "Scaled down replica set {} from 10 to 8",
            w.rss[0].name_any()
        )
    );
}

#[test]
fn recreate_scales_old_to_zero_before_creating_new() {
    let mut d = deploy(2, "v1", json!(1), json!(0));
    d.spec.as_mut().unwrap().strategy =
        Some(serde_json::from_value(json!({"type": "Recreate"})).unwrap());
    let mut w = World {
        d,
        rss: vec![],
        events: vec![],
        clock: 0,
    };
    roll(&mut w, 2, 0);
    w.d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some("v2".into());
    w.d.metadata.generation = Some(2);
    let plan = w.plan();
    assert!(plan
        .steps
        .iter()
        .all(|s| !matches!(s, Step::CreateReplicaSet(_))));
    w.apply(&plan);
    assert_eq!(rs_replicas(&w.rss[0]), 0);
    // Old pods still reported: nothing created yet.
    let plan = w.plan();
    assert!(plan
        .steps
        .iter()
        .all(|s| !matches!(s, Step::CreateReplicaSet(_))));
    w.settle_pods();
    let plan = w.plan();
    assert!(plan
        .steps
        .iter()
        .any(|s| matches!(s, Step::CreateReplicaSet(rs) if rs_replicas(rs) == 2)));
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    let mut w = World {
        d: deploy(10, "v1", json!(3), json!(2)),
        rss: vec![],
        events: vec![],
        clock: 0,
    };
    roll(&mut w, 13, 0);
    w.d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some("v2".into());
    w.d.metadata.generation = Some(2);
    let plan = w.plan();
    w.apply(&plan);
    // New RS at 3 (surge), old down to the 8-pod minimum while the new pods are unavailable.
    let sizes: Vec<i32> = w.rss.iter().map(rs_replicas).collect();
    assert_eq!(sizes, vec![8, 3]);
    // Scale to 20 mid-rollout: 12 more pods (20 + 3 - 11) spread by each RS's share of the
    // old maximum (13), leftovers to the largest.
    w.d.spec.as_mut().unwrap().replicas = Some(20);
    w.d.metadata.generation = Some(3);
    let plan = w.plan();
    w.apply(&plan);
    let sizes: Vec<i32> = w.rss.iter().map(rs_replicas).collect();
    assert_eq!(sizes.iter().sum::<i32>(), 23);
    assert_eq!(sizes, vec![18, 5]);
    for rs in &w.rss {
        assert_eq!(annotation(&rs.metadata, DESIRED_REPLICAS), Some("20"));
        assert_eq!(annotation(&rs.metadata, MAX_REPLICAS), Some("23"));
    }
}

#[test]
fn paused_deployment_scales_but_does_not_roll_out() {
    let mut w = World {
        d: deploy(3, "v1", json!(1), json!(0)),
        rss: vec![],
        events: vec![],
        clock: 0,
    };
    roll(&mut w, 4, 0);
    let spec = w.d.spec.as_mut().unwrap();
    spec.paused = Some(true);
    spec.template.spec.as_mut().unwrap().containers[0].image = Some("v2".into());
    spec.replicas = Some(5);
    w.d.metadata.generation = Some(2);
    roll(&mut w, 5, 0);
    assert_eq!(w.rss.len(), 1);
    assert_eq!(rs_replicas(&w.rss[0]), 5);
    let st = w.d.status.clone().unwrap();
    let c = condition(&st, "Progressing").unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("Unknown", Some(REASON_PAUSED))
    );
    assert_eq!(st.observed_generation, Some(2));
    w.d.spec.as_mut().unwrap().paused = None;
    roll(&mut w, 6, 5);
    assert_eq!(w.rss.len(), 2);
}

#[test]
fn progress_deadline_exceeded_after_no_progress() {
    let mut w = World {
        d: deploy(2, "v1", json!(1), json!(0)),
        rss: vec![],
        events: vec![],
        clock: 0,
    };
    w.d.spec.as_mut().unwrap().progress_deadline_seconds = Some(30);
    // Pods never become available.
    let plan = w.plan();
    w.apply(&plan);
    for rs in &mut w.rss {
        rs.status = Some(ReplicaSetStatus {
            replicas: 2,
            ..Default::default()
        });
    }
    let mut st = w.d.status.clone().unwrap();
    for c in st.conditions.iter_mut().flatten() {
        c.last_update_time = Some(Time(ts(NOW - 100)));
    }
    st.replicas = Some(2);
    st.updated_replicas = Some(2);
    w.d.status = Some(st);
    let plan = w.plan();
    w.apply(&plan);
    let c = condition(w.d.status.as_ref().unwrap(), "Progressing")
        .unwrap()
        .clone();
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("False", Some(REASON_TIMED_OUT))
    );
    assert_eq!(
        c.message.as_deref(),
        Some(
            format!(
                "ReplicaSet \"{}\" has timed out progressing.",
                w.rss[0].name_any()
            )
            .as_str()
        )
    );
}

#[test]
fn history_limit_deletes_oldest_empty_replica_sets() {
    let mut w = World {
        d: deploy(1, "v0", json!(1), json!(0)),
        rss: vec![],
        events: vec![],
        clock: 0,
    };
    w.d.spec.as_mut().unwrap().revision_history_limit = Some(1);
    for i in 0..4 {
        w.d.spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap()
            .containers[0]
            .image = Some(format!("v{i}"));
        w.d.metadata.generation = Some(i + 1);
        roll(&mut w, 2, 0);
    }
    // The current RS plus one old revision remain.
    assert_eq!(w.rss.len(), 2, "{:?}", w.sizes());
    let revs: Vec<Option<i64>> = w.rss.iter().map(revision).collect();
    assert_eq!(revs, vec![Some(3), Some(4)]);
}

#[test]
fn hash_collision_bumps_collision_count() {
    let d = deploy(1, "v1", json!(1), json!(0));
    let hash = compute_hash(&d.spec.as_ref().unwrap().template, None);
    let squatter: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": format!("web-{hash}"), "namespace": "d", "uid": "other"},
        "spec": {"selector": {"matchLabels": {"x": "y"}},
                 "template": {"metadata": {"labels": {"x": "y"}}, "spec": {"containers": [{"name": "c"}]}}}
    }))
    .unwrap();
    let plan = plan_deployment(&d, vec![], &[squatter], &HashMap::new(), ts(NOW));
    assert!(plan.retry);
    assert_eq!(plan.steps.len(), 1);
    let Step::UpdateStatus(st) = &plan.steps[0] else {
        panic!("status update")
    };
    assert_eq!(st.collision_count, Some(1));
    let mut d2 = d.clone();
    d2.status = Some(st.clone());
    let plan = plan_deployment(&d2, vec![], &[], &HashMap::new(), ts(NOW));
    let Step::CreateReplicaSet(rs) = &plan.steps[0] else {
        panic!("create")
    };
    assert_ne!(rs.name_any(), format!("web-{hash}"));
}

#[test]
fn revision_history_annotation_is_bounded() {
    let d = deploy(1, "v1", json!(1), json!(0));
    let mut rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "x", "annotations": {REVISION: "5", REVISION_HISTORY: "1,3"}}
    }))
    .unwrap();
    assert!(set_new_rs_annotations(&d, &mut rs, 7, true));
    let anns = rs.metadata.annotations.as_ref().unwrap();
    assert_eq!(anns[REVISION], "7");
    assert_eq!(anns[REVISION_HISTORY], "1,3,5");
    // Lower revisions never move it back.
    assert!(!set_new_rs_annotations(&d, &mut rs, 6, true));
}
