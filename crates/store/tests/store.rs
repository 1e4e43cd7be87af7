//! Behaviour of the SQLite store through the `Store` trait.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use minato_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use minato_store::{Event, RangeOptions, Store, StoreError, WatchStream, MAX_VALUE_BYTES};

fn opts() -> SqliteOptions {
    SqliteOptions {
        // Tests don't need power-loss durability; kill -9 safety is tested separately.
        synchronous: Synchronous::Normal,
        compact_interval: None,
        ..SqliteOptions::default()
    }
}

fn open(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
    SqliteStore::open(&dir.path().join("db.sqlite"), opts()).unwrap()
}

async fn next(w: &mut WatchStream) -> Event {
    tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("watch event timed out")
        .expect("watch ended")
        .map(|e| (*e).clone())
        .unwrap()
}

/// Asserts nothing arrives for a short while.
async fn quiet(w: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(200), w.next()).await {
        panic!("unexpected watch item {item:?}");
    }
}

#[tokio::test]
async fn crud_and_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    assert_eq!(s.current_revision().await.unwrap(), 0);
    assert_eq!(s.get("/a").await.unwrap(), None);

    let a = s.create("/a", b"1".to_vec()).await.unwrap();
    assert_eq!((a.create_revision, a.mod_revision), (1, 1));
    let b = s.create("/b", b"x".to_vec()).await.unwrap();
    assert_eq!((b.create_revision, b.mod_revision), (2, 2));
    assert!(matches!(
        s.create("/a", b"2".to_vec()).await,
        Err(StoreError::AlreadyExists(k)) if k == "/a"
    ));

    let a2 = s.update("/a", b"2".to_vec(), 1).await.unwrap();
    assert_eq!((a2.create_revision, a2.mod_revision), (1, 3));
    assert_eq!(s.get("/a").await.unwrap(), Some(a2.clone()));
    match s.update("/a", b"3".to_vec(), 1).await {
        Err(StoreError::Conflict {
            key,
            expected,
            actual,
        }) => assert_eq!((key.as_str(), expected, actual), ("/a", 1, 3)),
        other => panic!("expected conflict, got {other:?}"),
    }
    assert!(matches!(
        s.update("/nope", b"3".to_vec(), 1).await,
        Err(StoreError::NotFound(_))
    ));
    // Failed writes don't consume revisions.
    assert_eq!(s.current_revision().await.unwrap(), 3);

    assert!(matches!(
        s.delete("/a", Some(1)).await,
        Err(StoreError::Conflict { actual: 3, .. })
    ));
    let d = s.delete("/a", Some(3)).await.unwrap();
    assert_eq!(
        (d.value.as_slice(), d.create_revision, d.mod_revision),
        (&b"2"[..], 1, 4)
    );
    assert_eq!(s.get("/a").await.unwrap(), None);
    assert!(matches!(
        s.delete("/a", None).await,
        Err(StoreError::NotFound(_))
    ));
    let d = s.delete("/b", None).await.unwrap();
    assert_eq!(d.mod_revision, 5);

    // A re-created key starts a new incarnation.
    let a3 = s.create("/a", b"new".to_vec()).await.unwrap();
    assert_eq!((a3.create_revision, a3.mod_revision), (6, 6));
    assert_eq!(s.current_revision().await.unwrap(), 6);
}

#[tokio::test]
async fn too_large_values_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let ok = vec![7u8; MAX_VALUE_BYTES];
    let kv = s.create("/big", ok.clone()).await.unwrap();
    assert_eq!(s.get("/big").await.unwrap().unwrap().value, ok);
    let big = vec![0u8; MAX_VALUE_BYTES + 1];
    assert!(matches!(
        s.create("/big2", big.clone()).await,
        Err(StoreError::TooLarge { size, limit }) if size == MAX_VALUE_BYTES + 1 && limit == MAX_VALUE_BYTES
    ));
    assert!(matches!(
        s.update("/big", big, kv.mod_revision).await,
        Err(StoreError::TooLarge { .. })
    ));
    assert_eq!(s.current_revision().await.unwrap(), 1);
}

#[tokio::test]
async fn range_order_paging_prefix_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    // Insert out of order, plus neighbours that share a string prefix.
    for name in ["c", "a", "e", "b", "d"] {
        s.create(
            &format!("/registry/core/pods/{name}"),
            name.as_bytes().to_vec(),
        )
        .await
        .unwrap();
    }
    s.create("/registry/core/podsx/z", b"no".to_vec())
        .await
        .unwrap();
    s.create("/registry/core/pods", b"no".to_vec())
        .await
        .unwrap();
    s.create("/registry/core/pod/a", b"no".to_vec())
        .await
        .unwrap();

    let all = s
        .range("/registry/core/pods/", RangeOptions::default())
        .await
        .unwrap();
    let names: Vec<_> = all.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        names,
        [
            "/registry/core/pods/a",
            "/registry/core/pods/b",
            "/registry/core/pods/c",
            "/registry/core/pods/d",
            "/registry/core/pods/e"
        ]
    );
    assert!(!all.more);
    assert_eq!(all.revision, 8);
    assert_eq!(all.kvs[0].value, b"a");
    assert_eq!(all.kvs[0].mod_revision, 2);
    assert_eq!(s.count("/registry/core/pods/").await.unwrap(), 5);
    assert_eq!(s.count("/registry/core/").await.unwrap(), 8);
    assert_eq!(s.count("").await.unwrap(), 8);
    assert_eq!(s.count("/registry/apps/").await.unwrap(), 0);

    // Pages of two.
    let mut seen = Vec::new();
    let mut start_after = None;
    loop {
        let page = s
            .range(
                "/registry/core/pods/",
                RangeOptions {
                    start_after: start_after.clone(),
                    limit: Some(2),
                },
            )
            .await
            .unwrap();
        assert!(page.kvs.len() <= 2);
        seen.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        start_after = page.kvs.last().map(|kv| kv.key.clone());
        if !page.more {
            break;
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen, names);

    // Exact limit: no more.
    let page = s
        .range(
            "/registry/core/pods/",
            RangeOptions {
                start_after: Some("/registry/core/pods/b".into()),
                limit: Some(3),
            },
        )
        .await
        .unwrap();
    assert_eq!(page.kvs.len(), 3);
    assert!(!page.more);
    // Limit 0 means all; start_after before the prefix is ignored.
    let page = s
        .range(
            "/registry/core/pods/",
            RangeOptions {
                start_after: Some("/a".into()),
                limit: Some(0),
            },
        )
        .await
        .unwrap();
    assert_eq!(page.kvs.len(), 5);
    // Empty prefix lists everything.
    let everything = s.range("", RangeOptions::default()).await.unwrap();
    assert_eq!(everything.kvs.len(), 8);
    assert!(everything.kvs.windows(2).all(|w| w[0].key < w[1].key));

    // Deleted keys disappear from ranges and counts.
    s.delete("/registry/core/pods/c", None).await.unwrap();
    assert_eq!(s.count("/registry/core/pods/").await.unwrap(), 4);
    let r = s
        .range("/registry/core/pods/", RangeOptions::default())
        .await
        .unwrap();
    assert!(r.kvs.iter().all(|kv| kv.key != "/registry/core/pods/c"));
    assert_eq!(r.revision, 9);
}

#[tokio::test]
async fn watch_replays_history_then_follows_live() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    s.create("/p/a", b"1".to_vec()).await.unwrap(); // 1
    s.create("/q/a", b"1".to_vec()).await.unwrap(); // 2
    s.update("/p/a", b"2".to_vec(), 1).await.unwrap(); // 3
    s.create("/p/b", b"1".to_vec()).await.unwrap(); // 4
    s.delete("/p/a", None).await.unwrap(); // 5

    let mut w = s.watch("/p/", 1).await.unwrap();
    match next(&mut w).await {
        Event::Put {
            kv,
            prev: Some(prev),
        } => {
            assert_eq!((kv.key.as_str(), kv.value.as_slice()), ("/p/a", &b"2"[..]));
            assert_eq!((kv.create_revision, kv.mod_revision), (1, 3));
            assert_eq!((prev.value.as_slice(), prev.mod_revision), (&b"1"[..], 1));
        }
        other => panic!("{other:?}"),
    }
    match next(&mut w).await {
        Event::Put { kv, prev: None } => {
            assert_eq!((kv.key.as_str(), kv.mod_revision), ("/p/b", 4))
        }
        other => panic!("{other:?}"),
    }
    match next(&mut w).await {
        Event::Delete { kv } => {
            assert_eq!(kv.key, "/p/a");
            assert_eq!(kv.value, b"2", "delete carries the last value");
            assert_eq!((kv.create_revision, kv.mod_revision), (1, 5));
        }
        other => panic!("{other:?}"),
    }
    quiet(&mut w).await;

    // Live events, filtered by prefix.
    s.create("/q/b", b"1".to_vec()).await.unwrap(); // 6
    s.update("/p/b", b"2".to_vec(), 4).await.unwrap(); // 7
    s.delete("/p/b", Some(7)).await.unwrap(); // 8
    match next(&mut w).await {
        Event::Put {
            kv,
            prev: Some(prev),
        } => {
            assert_eq!((kv.mod_revision, prev.mod_revision), (7, 4));
            assert_eq!(prev.value, b"1");
        }
        other => panic!("{other:?}"),
    }
    match next(&mut w).await {
        Event::Delete { kv } => {
            assert_eq!((kv.mod_revision, kv.value.as_slice()), (8, &b"2"[..]))
        }
        other => panic!("{other:?}"),
    }
    quiet(&mut w).await;

    // after = 0 is live only.
    let mut live = s.watch("/p/", 0).await.unwrap();
    quiet(&mut live).await;
    s.create("/p/c", b"1".to_vec()).await.unwrap(); // 9
    assert_eq!(next(&mut live).await.revision(), 9);
    assert_eq!(next(&mut w).await.revision(), 9);

    // A watch from the current revision sees only later writes.
    let mut from_now = s.watch("/p/", 9).await.unwrap();
    quiet(&mut from_now).await;
    s.create("/p/d", b"1".to_vec()).await.unwrap(); // 10
    assert_eq!(next(&mut from_now).await.revision(), 10);

    // Empty prefix sees everything.
    let mut all = s.watch("", 5).await.unwrap();
    let mut revs = Vec::new();
    for _ in 0..5 {
        revs.push(next(&mut all).await.revision());
    }
    assert_eq!(revs, [6, 7, 8, 9, 10]);
}

#[tokio::test]
async fn replay_is_paged_and_has_no_gap_or_duplicate_with_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    // More history than one replay page.
    for i in 0..2500 {
        s.create(&format!("/k/{i:05}"), vec![1]).await.unwrap();
    }
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 2500..3500 {
                s.create(&format!("/k/{i:05}"), vec![1]).await.unwrap();
            }
        })
    };
    let mut w = s.watch("/k/", 1).await.unwrap();
    for expected in 2..=3500 {
        assert_eq!(next(&mut w).await.revision(), expected);
    }
    writer.await.unwrap();
    quiet(&mut w).await;
}

#[tokio::test]
async fn compaction_makes_old_watches_fail_and_keeps_current_values() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    s.create("/a", b"1".to_vec()).await.unwrap(); // 1
    s.update("/a", b"2".to_vec(), 1).await.unwrap(); // 2
    s.create("/b", b"1".to_vec()).await.unwrap(); // 3
    s.delete("/b", None).await.unwrap(); // 4
    s.create("/c", b"1".to_vec()).await.unwrap(); // 5
    s.update("/a", b"3".to_vec(), 2).await.unwrap(); // 6
    s.update("/c", b"2".to_vec(), 5).await.unwrap(); // 7

    assert!(s.compact(100).await.is_err(), "future revision");
    s.compact(5).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), 5);
    // Compacting to an older revision is a no-op.
    s.compact(3).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), 5);

    match s.watch("/", 4).await {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => assert_eq!((requested, compacted), (4, 5)),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("watch from a compacted revision succeeded"),
    }
    // From the compacted revision on, history is complete, including prev values.
    let mut w = s.watch("/", 5).await.unwrap();
    match next(&mut w).await {
        Event::Put {
            kv,
            prev: Some(prev),
        } => {
            assert_eq!((kv.mod_revision, kv.value.as_slice()), (6, &b"3"[..]));
            assert_eq!((prev.mod_revision, prev.value.as_slice()), (2, &b"2"[..]));
        }
        other => panic!("{other:?}"),
    }
    match next(&mut w).await {
        Event::Put {
            kv,
            prev: Some(prev),
        } => {
            assert_eq!((kv.mod_revision, prev.mod_revision), (7, 5));
            assert_eq!(prev.value, b"1");
        }
        other => panic!("{other:?}"),
    }
    quiet(&mut w).await;

    assert_eq!(s.get("/a").await.unwrap().unwrap().value, b"3");
    assert_eq!(s.get("/b").await.unwrap(), None);
    assert_eq!(s.count("").await.unwrap(), 2);
    assert_eq!(s.current_revision().await.unwrap(), 7);

    // Compact everything: current values remain, a delete tombstone at the head goes, the
    // revision counter does not move back.
    s.delete("/c", None).await.unwrap(); // 8
    s.compact(8).await.unwrap();
    drop(w);
    drop(s);
    let s = open(&dir);
    assert_eq!(s.current_revision().await.unwrap(), 8);
    assert_eq!(s.compacted_revision().await.unwrap(), 8);
    assert_eq!(s.get("/a").await.unwrap().unwrap().mod_revision, 6);
    assert_eq!(s.create("/d", vec![]).await.unwrap().mod_revision, 9);
    let mut w = s.watch("/", 8).await.unwrap();
    assert_eq!(next(&mut w).await.revision(), 9);
}

#[tokio::test]
async fn reopen_keeps_data_and_revision() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(&dir);
        s.create("/a", b"1".to_vec()).await.unwrap();
        s.create("/b", b"1".to_vec()).await.unwrap();
        s.update("/a", b"2".to_vec(), 1).await.unwrap();
        s.delete("/b", None).await.unwrap();
    }
    let s = open(&dir);
    assert_eq!(s.current_revision().await.unwrap(), 4);
    let a = s.get("/a").await.unwrap().unwrap();
    assert_eq!(
        (a.value.as_slice(), a.create_revision, a.mod_revision),
        (&b"2"[..], 1, 3)
    );
    assert_eq!(s.get("/b").await.unwrap(), None);
    assert_eq!(s.create("/c", vec![]).await.unwrap().mod_revision, 5);
    // History survives too.
    let mut w = s.watch("/", 1).await.unwrap();
    assert_eq!(next(&mut w).await.revision(), 2);
    assert!(matches!(next(&mut w).await, Event::Put { .. }));
    assert!(matches!(next(&mut w).await, Event::Delete { .. }));
}

#[test]
fn open_rejects_foreign_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE t (x)").unwrap();
    drop(conn);
    assert!(matches!(
        SqliteStore::open(&path, opts()),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        SqliteStore::open(&dir.path().join("missing/dir/db"), opts()),
        Err(StoreError::Backend(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_are_seen_in_revision_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let mut w = s.watch("/", 0).await.unwrap();
    let writers = 16;
    let per = 100;
    let mut tasks = Vec::new();
    for t in 0..writers {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("/w/{t}");
            let mut kv = s.create(&key, vec![0]).await.unwrap();
            for i in 1..per {
                kv = s
                    .update(&key, vec![i as u8], kv.mod_revision)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = writers * per;
    assert_eq!(s.current_revision().await.unwrap(), total as i64);
    let mut last_per_key = std::collections::HashMap::new();
    for expected in 1..=total as i64 {
        let ev = next(&mut w).await;
        assert_eq!(ev.revision(), expected, "events in strict revision order");
        if let Event::Put { kv, prev } = &ev {
            // Each event's prev is the key's previous event.
            let last = last_per_key.insert(kv.key.clone(), kv.mod_revision);
            assert_eq!(prev.as_ref().map(|p| p.mod_revision), last);
        }
    }
    // The same holds for a replay of the whole history.
    let mut replay = s.watch("/", 1).await.unwrap();
    for expected in 2..=total as i64 {
        assert_eq!(next(&mut replay).await.revision(), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_watchers_each_see_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    s.create("/x/seed", vec![]).await.unwrap();
    let mut watchers = Vec::new();
    for i in 0..1000 {
        // Half replay from revision 1, half are live only.
        let after = if i % 2 == 0 { 1 } else { 0 };
        watchers.push(s.watch("/x/", after).await.unwrap());
    }
    s.create("/y/other", vec![]).await.unwrap(); // 2, filtered out
    let kv = s.create("/x/k", b"v".to_vec()).await.unwrap(); // 3
    let handles: Vec<_> = watchers
        .into_iter()
        .map(|mut w| {
            tokio::spawn(async move {
                let ev = next(&mut w).await;
                quiet(&mut w).await;
                ev
            })
        })
        .collect();
    for h in handles {
        let ev = h.await.unwrap();
        assert_eq!(ev.kv(), &kv);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_watcher_catches_up_from_the_log_or_fails_when_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(
        &dir.path().join("db"),
        SqliteOptions {
            watch_buffer: 4,
            ..opts()
        },
    )
    .unwrap();
    let mut w = s.watch("/", 0).await.unwrap();
    let mut doomed = s.watch("/", 0).await.unwrap();
    // Sequential writes: one batch each, far more than the buffer holds.
    for i in 0..200 {
        s.create(&format!("/k/{i}"), vec![]).await.unwrap();
    }
    for expected in 1..=200 {
        assert_eq!(next(&mut w).await.revision(), expected);
    }
    // The other watcher lags too, but the history it missed is compacted by now.
    s.compact(150).await.unwrap();
    let mut last = 0;
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(10), doomed.next())
            .await
            .unwrap()
        {
            Some(Ok(ev)) => {
                assert!(ev.revision() > last);
                last = ev.revision();
            }
            Some(Err(e)) => break e,
            None => panic!("watch ended without an error"),
        }
    };
    assert!(matches!(err, StoreError::Compacted { .. }), "{err}");
    assert!(doomed.next().await.is_none(), "stream ends after the error");
}

#[tokio::test]
async fn dropping_the_store_ends_watches() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let mut w = s.watch("/", 0).await.unwrap();
    drop(s);
    let end = tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .unwrap();
    assert!(end.is_none());
}
