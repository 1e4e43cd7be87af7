use super::*;
use serde_json::json;

fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": "web-x", "namespace": "d", "uid": "rs", "generation": 2},
        "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "status": {"replicas": 0, "observedGeneration": 1}
    }))
    .unwrap()
}

fn pod(name: &str, labels: Value, ready_ago: Option<i64>) -> Pod {
    let mut v = json!({"metadata": {"name": name, "uid": name, "labels": labels},
                       "spec": {"containers": [{"name": "c"}]},
                       "status": {"phase": "Running"}});
    if let Some(ago) = ready_ago {
        let t = Timestamp::from_second(1_000_000 - ago).unwrap().to_string();
        v["status"]["conditions"] =
            json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}]);
    }
    serde_json::from_value(v).unwrap()
}

use serde_json::Value;

#[test]
fn slow_start_doubles() {
    assert_eq!(slow_start_batches(0), Vec::<usize>::new());
    assert_eq!(slow_start_batches(1), vec![1]);
    assert_eq!(slow_start_batches(10), vec![1, 2, 4, 3]);
    assert_eq!(slow_start_batches(15), vec![1, 2, 4, 8]);
}

#[test]
fn plan_creates_or_deletes_the_difference() {
    let now = Timestamp::from_second(1_000_000).unwrap();
    let a = pod("a", json!({"app": "web"}), Some(100));
    let b = pod("b", json!({"app": "web"}), None);
    let c = pod("c", json!({"app": "web"}), Some(100));
    assert_eq!(
        replica_plan(&rs(3, 0), &[&a], &[], now),
        ReplicaPlan::Create(2)
    );
    assert_eq!(
        replica_plan(&rs(2, 0), &[&a, &c], &[], now),
        ReplicaPlan::Nothing
    );
    // The not-ready pod goes first.
    assert_eq!(
        replica_plan(&rs(2, 0), &[&a, &b, &c], &[], now),
        ReplicaPlan::Delete(vec!["b".into()])
    );
    assert_eq!(
        replica_plan(&rs(1000, 0), &[], &[], now),
        ReplicaPlan::Create(BURST_REPLICAS)
    );
}

#[test]
fn status_counts_labels_readiness_and_availability() {
    let now = Timestamp::from_second(1_000_000).unwrap();
    let full = pod(
        "a",
        json!({"app": "web", "tier": "fe", "extra": "x"}),
        Some(100),
    );
    let partial = pod("b", json!({"app": "web"}), Some(5));
    let not_ready = pod("c", json!({"app": "web", "tier": "fe"}), None);
    let st = calculate_status(&rs(3, 10), &[&full, &partial, &not_ready], None, now);
    assert_eq!(st.replicas, 3);
    assert_eq!(st.fully_labeled_replicas, Some(2));
    assert_eq!(st.ready_replicas, Some(2));
    assert_eq!(st.available_replicas, Some(1));
    assert!(st.conditions.is_none());
    assert!(status_needs_update(&rs(3, 10), &st));
}

#[test]
fn manage_errors_set_and_clear_replica_failure() {
    let now = Timestamp::from_second(1_000_000).unwrap();
    let r = rs(2, 0);
    let st = calculate_status(&r, &[], Some("pods \"web-x-\" is forbidden: quota"), now);
    let c = &st.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (
            c.type_.as_str(),
            c.status.as_str(),
            c.reason.as_deref(),
            c.message.as_deref()
        ),
        (
            "ReplicaFailure",
            "True",
            Some("FailedCreate"),
            Some("pods \"web-x-\" is forbidden: quota")
        )
    );
    let mut failed = r.clone();
    failed.status = Some(st);
    let cleared = calculate_status(&failed, &[], None, now);
    assert!(cleared.conditions.is_none());
}

#[test]
fn expectations_wait_for_the_cache() {
    let created = Arc::new(pod("new", json!({}), None));
    let mut gone = pod("old", json!({}), None);
    let exp = Expectations {
        creates: vec![("new".into(), "new".into())],
        deletes: vec![("old".into(), "old".into())],
        since: Instant::now(),
    };
    let old_arc = Arc::new(gone.clone());
    // Created pod not seen yet.
    assert!(!exp.satisfied(|_| None::<Arc<Pod>>, Instant::now()));
    assert!(!exp.satisfied(|n| (n == "old").then(|| old_arc.clone()), Instant::now()));
    // Created pod seen, deleted pod still there without a deletionTimestamp.
    assert!(!exp.satisfied(
        |n| if n == "new" {
            Some(created.clone())
        } else {
            Some(old_arc.clone())
        },
        Instant::now()
    ));
    // Deleted pod terminating: met.
    gone.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
    let terminating = Arc::new(gone);
    assert!(exp.satisfied(
        |n| if n == "new" {
            Some(created.clone())
        } else {
            Some(terminating.clone())
        },
        Instant::now()
    ));
    // Expired expectations never block.
    assert!(exp.satisfied(
        |_| None,
        Instant::now() + EXPECTATIONS_TIMEOUT + Duration::from_secs(1)
    ));
}
