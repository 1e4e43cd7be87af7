//! Write throughput and latency of the SQLite store.
//!
//! `cargo run --release -p minato-store --example store_bench -- [--full] [--secs N]
//! [--autocheckpoint PAGES] [DIR]`
//!
//! For 1, 8 and 64 concurrent writers, each CAS-updates its own keys with 2 KiB values (the size
//! of a typical pod) for a few seconds and the tool prints writes/s and p50/p99 latency. The
//! database goes in a fresh temporary directory under DIR (default: the system temp dir) with
//! `synchronous=NORMAL` (the default), or FULL with `--full`.

use std::time::{Duration, Instant};

use minato_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use minato_store::Store;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut sync = Synchronous::Normal;
    let mut secs = 3u64;
    let mut opts = SqliteOptions::default();
    let mut dir = std::env::temp_dir();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--full" => sync = Synchronous::Full,
            "--secs" => secs = args.next().ok_or("--secs needs a value")?.parse()?,
            "--autocheckpoint" => {
                opts.wal_autocheckpoint = args.next().ok_or("needs a page count")?.parse()?
            }
            other => dir = other.into(),
        }
    }
    println!("synchronous={sync:?}, {secs}s per run, 2 KiB values");
    for writers in [1usize, 8, 64] {
        let tmp = tempfile::tempdir_in(&dir)?;
        let store = SqliteStore::open(
            &tmp.path().join("bench.sqlite"),
            SqliteOptions {
                synchronous: sync,
                ..opts.clone()
            },
        )?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for w in 0..writers {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let keys: Vec<String> = (0..10).map(|k| format!("/bench/{w}/{k}")).collect();
                let mut revs = Vec::new();
                for key in &keys {
                    revs.push(store.create(key, vec![b'x'; 2048]).await?.mod_revision);
                }
                let mut i = 0usize;
                while Instant::now() < deadline {
                    let k = i % keys.len();
                    let start = Instant::now();
                    revs[k] = store
                        .update(&keys[k], vec![(i % 256) as u8; 2048], revs[k])
                        .await?
                        .mod_revision;
                    lat.push(start.elapsed());
                    i += 1;
                }
                Ok::<_, minato_store::StoreError>(lat)
            }));
        }
        let started = Instant::now();
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await??);
        }
        let elapsed = started.elapsed().as_secs_f64();
        lat.sort();
        println!(
            "{writers:>3} writers: {:>7.0} writes/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            lat.len() as f64 / elapsed,
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
        drop(store);
    }
    Ok(())
}
