//! End-to-end tests with the real OCI runtime (the one the runtime picks: crun where it is
//! usable, else runc; `oci_runtimes_by_name_*` run both). They need root, /bin/busybox, runc
//! and crun, and fail (not skip) without them. Every test cleans up through `Fixture`'s Drop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use minato_runtime::logs::{self, LogOptions};
use minato_runtime::{
    ContainerSpec, ContainerState, ExecSpec, Namespaces, Resources, Runtime, RuntimeConfig,
    RuntimeError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const APPLETS: &[&str] = &[
    "sh", "echo", "sleep", "cat", "head", "tr", "env", "pwd", "true", "false", "httpd", "tty",
    "stty", "ls", "wc", "yes", "id", "fold", "unshare", "grep",
];

static N: AtomicU32 = AtomicU32::new(0);

struct Fixture {
    dir: tempfile::TempDir,
    rt: Runtime,
    layer: PathBuf,
    cgroup_root: String,
    ids: Vec<String>,
}

fn make_layer(dir: &Path) -> PathBuf {
    let layer = dir.join("layer");
    std::fs::create_dir_all(layer.join("bin")).unwrap();
    std::fs::create_dir_all(layer.join("tmp")).unwrap();
    std::fs::create_dir_all(layer.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", layer.join("bin/busybox"))
        .expect("these tests need /bin/busybox (apt-get install busybox-static)");
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", layer.join("bin").join(a)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(layer.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    layer
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        Fixture::with_runtime(name, None)
    }

    fn with_runtime(name: &str, runtime: Option<&str>) -> Fixture {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests need root (they run runc, mount overlays and create cgroups)"
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("minato-rt-{name}-"))
            .tempdir()
            .unwrap();
        let layer = make_layer(dir.path());
        let cgroup_root = format!(
            "/minato-test-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let rt = Runtime::new(RuntimeConfig {
            state_dir: dir.path().join("state"),
            runtime_binary: runtime.map(PathBuf::from),
            cgroup_root: cgroup_root.clone(),
            shim_binary: PathBuf::from(env!("CARGO_BIN_EXE_minato-runtime-shim")),
        })
        .expect("Runtime::new (is runc installed?)");
        Fixture {
            dir,
            rt,
            layer,
            cgroup_root,
            ids: Vec::new(),
        }
    }

    fn spec(&mut self, id_suffix: &str, args: &[&str]) -> ContainerSpec {
        let id = format!(
            "t{}-{}-{id_suffix}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        self.ids.push(id.clone());
        ContainerSpec {
            id: id.clone(),
            pod_uid: "pod-uid-1".into(),
            container_name: id_suffix.into(),
            image: "busybox:test".into(),
            image_id: "sha256:test".into(),
            labels: BTreeMap::from([("app".to_string(), "test".to_string())]),
            layers: vec![self.layer.clone()],
            args: args.iter().map(|s| s.to_string()).collect(),
            cgroup_path: format!("{}/pod1/{id}", self.cgroup_root),
            log_path: self.dir.path().join("logs").join(format!("{id}.log")),
            ..Default::default()
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let rt = self.rt.clone();
        let ids = std::mem::take(&mut self.ids);
        let root = self.cgroup_root.clone();
        let dir = self.dir.path().to_path_buf();
        // Drop may run inside a tokio runtime: do the async cleanup on a fresh thread.
        let h = std::thread::spawn(move || {
            let tr = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            tr.block_on(async {
                for id in &ids {
                    let _ = rt.kill(id, 9);
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while Instant::now() < deadline {
                        match rt.container(id) {
                            Ok(Some(r)) if !matches!(r.state, ContainerState::Exited { .. }) => {
                                let _ = rt.kill(id, 9);
                                tokio::time::sleep(Duration::from_millis(20)).await
                            }
                            _ => break,
                        }
                    }
                    if let Err(e) = rt.remove_container(id).await {
                        if !matches!(e, RuntimeError::NotFound(_)) {
                            eprintln!("cleanup: remove {id}: {e}");
                        }
                    }
                }
                if let Err(e) = rt.remove_pod_cgroup(&root) {
                    eprintln!("cleanup: cgroup {root}: {e}");
                }
            });
            // Anything still mounted below our temp dir (should be nothing).
            let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            for l in mi.lines() {
                if let Some(mp) = l.split(' ').nth(4) {
                    if Path::new(mp).starts_with(&dir) {
                        eprintln!("cleanup: leftover mount {mp}");
                        let _ = nix::mount::umount2(mp, nix::mount::MntFlags::MNT_DETACH);
                    }
                }
            }
        });
        let _ = h.join();
    }
}

async fn wait_exit(rt: &Runtime, id: &str, secs: u64) -> ContainerState {
    let r = tokio::time::timeout(Duration::from_secs(secs), rt.wait_exited(id))
        .await
        .unwrap_or_else(|_| panic!("container {id} did not exit within {secs}s"))
        .unwrap();
    r.state
}

/// SIGKILLs a running container and checks that it is recorded as killed by signal 9.
async fn kill9_and_wait(rt: &Runtime, id: &str) {
    rt.kill(id, 9).unwrap();
    wait_killed(rt, id).await;
}

/// Waits for a container to exit and checks that it was killed by signal 9.
async fn wait_killed(rt: &Runtime, id: &str) {
    let st = wait_exit(rt, id, 20).await;
    assert!(
        matches!(
            st,
            ContainerState::Exited {
                signal: Some(9),
                ..
            }
        ),
        "{st:?}"
    );
}

fn exit_code(st: &ContainerState) -> i32 {
    match st {
        ContainerState::Exited { exit_code, .. } => *exit_code,
        other => panic!("not exited: {other:?}"),
    }
}

/// Contents of the CRI log lines for a stream.
fn log_lines(path: &Path, stream: &str) -> Vec<String> {
    let data = std::fs::read_to_string(path).unwrap();
    data.lines()
        .filter_map(|l| {
            let r = logs::parse_line(l.as_bytes()).expect("CRI log line");
            assert!(r.time.is_some(), "bad timestamp in {l:?}");
            (r.stream == stream).then(|| String::from_utf8(r.content).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn echo_hello_logs_and_exit_zero() {
    let mut f = Fixture::new("echo");
    let spec = f.spec("echo", &["echo", "hello"]);
    let id = spec.id.clone();
    let log = spec.log_path.clone();
    let rec = f.rt.create_container(spec).await.unwrap();
    assert_eq!(rec.labels.get("app").map(String::as_str), Some("test"));
    let st = wait_exit(&f.rt, &id, 20).await;
    assert_eq!(exit_code(&st), 0);
    match st {
        ContainerState::Exited {
            signal,
            started_at,
            oom_killed,
            ..
        } => {
            assert_eq!(signal, None);
            assert!(started_at.is_some());
            assert!(!oom_killed);
        }
        _ => unreachable!(),
    }
    assert_eq!(log_lines(&log, "stdout"), vec!["hello"]);
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(raw.contains(" stdout F hello\n"), "{raw:?}");
    // containers() lists it with the same labels.
    let all = f.rt.containers().unwrap();
    assert!(all.iter().any(|c| c.id == id && c.container_name == "echo"));
}

#[tokio::test]
async fn exit_code_passthrough_and_stderr() {
    let mut f = Fixture::new("exit3");
    let spec = f.spec("exit3", &["sh", "-c", "echo oops >&2; exit 3"]);
    let (id, log) = (spec.id.clone(), spec.log_path.clone());
    f.rt.create_container(spec).await.unwrap();
    assert_eq!(exit_code(&wait_exit(&f.rt, &id, 20).await), 3);
    assert_eq!(log_lines(&log, "stderr"), vec!["oops"]);
}

#[tokio::test]
async fn env_cwd_and_user() {
    let mut f = Fixture::new("env");
    let mut spec = f.spec("env", &["sh", "-c", "echo $FOO; pwd; id -u; echo $PATH"]);
    spec.env = vec![("FOO".into(), "bar baz".into())];
    spec.cwd = "/tmp".into();
    spec.user = Some(minato_runtime::User {
        uid: 1234,
        gid: 1234,
        additional_gids: vec![],
    });
    let (id, log) = (spec.id.clone(), spec.log_path.clone());
    f.rt.create_container(spec).await.unwrap();
    assert_eq!(exit_code(&wait_exit(&f.rt, &id, 20).await), 0);
    let lines = log_lines(&log, "stdout");
    assert_eq!(lines[..3], ["bar baz", "/tmp", "1234"]);
    assert!(lines[3].contains("/bin"), "default PATH set: {lines:?}");
}

#[tokio::test]
async fn kill_reports_signal() {
    let mut f = Fixture::new("kill");
    // PID 1 of a pid namespace ignores SIGTERM without a handler, so the SIGTERM case runs
    // in the host pid namespace; the SIGKILL case in its own.
    let mut spec = f.spec("term", &["sleep", "1000"]);
    spec.namespaces = Namespaces {
        host_pid: true,
        ..Default::default()
    };
    let id = spec.id.clone();
    let rec = f.rt.create_container(spec).await.unwrap();
    let ContainerState::Running { pid, .. } = rec.state else {
        panic!("not running: {:?}", rec.state)
    };
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    f.rt.kill(&id, 15).unwrap();
    let st = wait_exit(&f.rt, &id, 20).await;
    match st {
        ContainerState::Exited {
            exit_code, signal, ..
        } => {
            assert_eq!(signal, Some(15));
            assert_eq!(exit_code, 143);
        }
        _ => unreachable!(),
    }
    // Killing an exited container is not an error.
    f.rt.kill(&id, 15).unwrap();

    let spec = f.spec("kill9", &["sleep", "1000"]);
    let id = spec.id.clone();
    f.rt.create_container(spec).await.unwrap();
    f.rt.kill(&id, 9).unwrap();
    let st = wait_exit(&f.rt, &id, 20).await;
    assert!(
        matches!(
            st,
            ContainerState::Exited {
                signal: Some(9),
                exit_code: 137,
                ..
            }
        ),
        "{st:?}"
    );
}

#[tokio::test]
async fn memory_limit_oom_killed() {
    let mut f = Fixture::new("oom");
    let mut spec = f.spec(
        "oom",
        &[
            "sh",
            "-c",
            "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived",
        ],
    );
    spec.resources = Resources {
        memory_limit: Some(32 * 1024 * 1024),
        ..Default::default()
    };
    let id = spec.id.clone();
    f.rt.create_container(spec).await.unwrap();
    let st = wait_exit(&f.rt, &id, 60).await;
    match st {
        ContainerState::Exited {
            oom_killed,
            exit_code,
            ..
        } => {
            assert!(oom_killed, "expected OOM kill: {st:?}");
            assert_ne!(exit_code, 0);
        }
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn cpu_quota_limits_usage() {
    let mut f = Fixture::new("cpu");
    let mut spec = f.spec("cpu", &["sh", "-c", "while :; do :; done"]);
    spec.resources = Resources {
        cpu_quota: Some(20_000),
        cpu_period: Some(100_000),
        cpu_shares: Some(512),
        ..Default::default()
    };
    let (id, cg) = (spec.id.clone(), spec.cgroup_path.clone());
    f.rt.create_container(spec).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = f.rt.cgroup_usage(&cg).unwrap();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let b = f.rt.cgroup_usage(&cg).unwrap();
    let wall = t0.elapsed().as_nanos() as f64;
    let frac = (b.cpu_usage_ns - a.cpu_usage_ns) as f64 / wall;
    assert!((0.10..=0.35).contains(&frac), "cpu fraction {frac}");
    assert!(b.memory_usage_bytes > 0);
    assert!(b.memory_working_set_bytes <= b.memory_usage_bytes);
    // The pod cgroup above it sees the same CPU.
    let pod =
        f.rt.cgroup_usage(&format!("{}/pod1", f.cgroup_root))
            .unwrap();
    assert!(pod.cpu_usage_ns >= b.cpu_usage_ns);
    let node = f.rt.node_usage().unwrap();
    assert!(node.cpu_usage_ns > 0 && node.memory_working_set_bytes > 0);
    f.rt.kill(&id, 9).unwrap();
    wait_exit(&f.rt, &id, 20).await;
}

async fn read_all(r: Option<minato_runtime::exec::BoxRead>) -> String {
    let mut s = Vec::new();
    if let Some(mut r) = r {
        r.read_to_end(&mut s).await.unwrap();
    }
    String::from_utf8_lossy(&s).into_owned()
}

#[tokio::test]
async fn exec_output_and_exit_code() {
    let mut f = Fixture::new("exec");
    let mut spec = f.spec("exec", &["sleep", "1000"]);
    spec.env = vec![("BASE".into(), "base".into())];
    let id = spec.id.clone();
    f.rt.create_container(spec).await.unwrap();
    let mut p =
        f.rt.exec(
            &id,
            ExecSpec {
                argv: vec![
                    "sh".into(),
                    "-c".into(),
                    "echo out $BASE $EXTRA; pwd; echo err >&2; read x; echo got $x; exit 5".into(),
                ],
                env: vec![("EXTRA".into(), "extra".into())],
                stdin: true,
                cwd: Some("/tmp".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut stdin = p.stdin.take().unwrap();
    stdin.write_all(b"input\n").await.unwrap();
    drop(stdin);
    let (out, err) = tokio::join!(read_all(p.stdout.take()), read_all(p.stderr.take()));
    assert_eq!(p.wait().await.unwrap(), 5);
    assert_eq!(out, "out base extra\n/tmp\ngot input\n");
    assert_eq!(err, "err\n");
}

#[tokio::test]
async fn exec_with_tty() {
    let mut f = Fixture::new("tty");
    let spec = f.spec("tty", &["sleep", "1000"]);
    let id = spec.id.clone();
    f.rt.create_container(spec).await.unwrap();
    let mut p =
        f.rt.exec(
            &id,
            ExecSpec {
                argv: vec!["sh".into()],
                tty: true,
                stdin: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(p.stderr.is_none());
    p.resize(100, 30).unwrap();
    let mut stdin = p.stdin.take().unwrap();
    stdin
        .write_all(b"tty; stty size; echo done-$((40+2)); exit 4\n")
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), read_all(p.stdout.take()))
        .await
        .expect("tty output did not end");
    assert_eq!(p.wait().await.unwrap(), 4);
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("30 100"), "{out:?}");
    assert!(out.contains("done-42\r\n"), "{out:?}");
}

#[tokio::test]
async fn container_with_tty_logs_output() {
    let mut f = Fixture::new("ctty");
    let mut spec = f.spec("ctty", &["sh", "-c", "tty; echo hi"]);
    spec.tty = true;
    let (id, log) = (spec.id.clone(), spec.log_path.clone());
    f.rt.create_container(spec).await.unwrap();
    assert_eq!(exit_code(&wait_exit(&f.rt, &id, 20).await), 0);
    let lines = log_lines(&log, "stdout");
    assert!(lines[0].starts_with("/dev/pts/"), "{lines:?}");
    assert_eq!(lines[1], "hi");
}

#[tokio::test]
async fn stdin_fifo_attach() {
    let mut f = Fixture::new("stdin");
    let mut spec = f.spec("stdin", &["sh", "-c", "read a; echo got $a; cat; echo eof"]);
    spec.stdin = true;
    spec.stdin_once = true;
    let (id, log) = (spec.id.clone(), spec.log_path.clone());
    f.rt.create_container(spec).await.unwrap();
    let fifo = f.rt.stdin_path(&id).expect("stdin fifo");
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    use std::io::Write;
    w.write_all(b"one\ntwo\n").unwrap();
    drop(w);
    assert_eq!(exit_code(&wait_exit(&f.rt, &id, 20).await), 0);
    assert_eq!(log_lines(&log, "stdout"), vec!["got one", "two", "eof"]);
}

#[tokio::test]
async fn restart_adoption() {
    let mut f = Fixture::new("adopt");
    let spec = f.spec("adopt", &["sleep", "1000"]);
    let id = spec.id.clone();
    let rec = f.rt.create_container(spec).await.unwrap();
    let ContainerState::Running { pid, started_at } = rec.state else {
        panic!("not running")
    };
    let cfg = f.rt.config().clone();
    // A writable layer whose bundle is gone (as after a reboot empties the bundles' tmpfs) is
    // removed when a runtime opens the state; the live container's layer stays.
    let orphan = cfg.state_dir.join("layers").join("gone-after-reboot");
    std::fs::create_dir_all(orphan.join("upper")).unwrap();
    // Drop every handle of the first runtime: the container must keep running.
    let old = std::mem::replace(&mut f.rt, Runtime::new(cfg.clone()).unwrap());
    drop(old);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = Runtime::new(cfg.clone()).unwrap();
    assert!(!orphan.exists(), "orphan layer kept");
    assert!(cfg
        .state_dir
        .join("layers")
        .join(&id)
        .join("upper")
        .is_dir());
    let rec = again.container(&id).unwrap().unwrap();
    assert_eq!(rec.state, ContainerState::Running { pid, started_at });
    assert!(again.containers().unwrap().iter().any(|c| c.id == id));
    // The shim (not us) reaps it and records the status.
    kill9_and_wait(&again, &id).await;
    assert!(rec.message.is_none());
}

#[tokio::test]
async fn oci_runtimes_by_name_run_containers() {
    for name in ["runc", "crun"] {
        let mut f = Fixture::with_runtime(name, Some(name));
        assert_eq!(f.rt.info().name, name);
        let spec = f.spec("named", &["sh", "-c", "exit 7"]);
        let id = spec.id.clone();
        f.rt.create_container(spec).await.unwrap();
        assert_eq!(exit_code(&wait_exit(&f.rt, &id, 20).await), 7, "{name}");
    }
}

#[tokio::test]
async fn containers_outlive_a_change_of_oci_runtime() {
    // Made by runc; the agent then restarts configured for crun: the container must still
    // be stopped and removed through runc, which holds its state.
    let mut f = Fixture::with_runtime("switch", Some("runc"));
    let spec = f.spec("switch", &["sleep", "1000"]);
    let id = spec.id.clone();
    f.rt.create_container(spec).await.unwrap();
    let mut cfg = f.rt.config().clone();
    cfg.runtime_binary = Some(PathBuf::from("crun"));
    let crun = Runtime::new(cfg).unwrap();
    assert_eq!(crun.info().name, "crun");
    kill9_and_wait(&crun, &id).await;
    crun.remove_container(&id).await.unwrap();
    assert!(crun.container(&id).unwrap().is_none());
}

#[tokio::test]
async fn runtime_default_seccomp_refuses_new_namespaces() {
    // Both runtimes load the profile: the filter is on, and creating a user namespace (no
    // capability needed otherwise) is refused; unconfined, the same command works.
    for name in ["runc", "crun"] {
        let mut f = Fixture::with_runtime("seccomp", Some(name));
        let script =
            "grep '^Seccomp:' /proc/self/status; unshare -U true && echo made-userns; exit 0";
        let mut confined = f.spec("confined", &["sh", "-c", script]);
        confined.seccomp = minato_runtime::seccomp::Seccomp::RuntimeDefault;
        let mut free = f.spec("free", &["sh", "-c", script]);
        free.seccomp = minato_runtime::seccomp::Seccomp::Unconfined;
        let mut outs = Vec::new();
        for spec in [confined, free] {
            let (id, log) = (spec.id.clone(), spec.log_path.clone());
            f.rt.create_container(spec).await.unwrap();
            assert_eq!(exit_code(&wait_exit(&f.rt, &id, 20).await), 0, "{name}");
            outs.push(log_lines(&log, "stdout").join("\n"));
        }
        assert!(outs[0].contains("Seccomp:\t2"), "{name}: {}", outs[0]);
        assert!(!outs[0].contains("made-userns"), "{name}: {}", outs[0]);
        assert!(outs[1].contains("Seccomp:\t0"), "{name}: {}", outs[1]);
        assert!(outs[1].contains("made-userns"), "{name}: {}", outs[1]);
    }
}

#[tokio::test]
async fn logs_tail_timestamps_follow_partial() {
    let mut f = Fixture::new("logs");
    let spec = f.spec(
        "logs",
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo line$i; done; sleep 1; head -c 20000 /dev/zero | tr '\\0' x; echo; echo late",
        ],
    );
    let (id, log) = (spec.id.clone(), spec.log_path.clone());
    let before = SystemTime::now() - Duration::from_secs(1);
    f.rt.create_container(spec).await.unwrap();

    // follow from the start while it runs; stop once it exited.
    let rt = f.rt.clone();
    let id2 = id.clone();
    let mut rx = logs::read(
        &log,
        LogOptions {
            follow: true,
            ..Default::default()
        },
        async move {
            let _ = rt.wait_exited(&id2).await;
        },
    );
    let mut got = Vec::new();
    let collect = async {
        while let Some(b) = rx.recv().await {
            got.extend_from_slice(&b.unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(30), collect)
        .await
        .expect("follow did not end after the container exited");
    let long = "x".repeat(20000);
    let expected = format!("line1\nline2\nline3\nline4\nline5\n{long}\nlate\n");
    assert_eq!(String::from_utf8(got).unwrap(), expected);
    // The long line was split into a partial record in the file.
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(raw.contains(" stdout P "), "no partial record");

    async fn collect_all(path: &Path, opts: LogOptions) -> String {
        let mut rx = logs::read(path, opts, std::future::pending());
        let mut got = Vec::new();
        while let Some(b) = rx.recv().await {
            got.extend_from_slice(&b.unwrap());
        }
        String::from_utf8(got).unwrap()
    }
    let tail = collect_all(
        &log,
        LogOptions {
            tail_lines: Some(2),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(tail, format!("{long}\nlate\n"));
    let ts = collect_all(
        &log,
        LogOptions {
            tail_lines: Some(1),
            timestamps: true,
            ..Default::default()
        },
    )
    .await;
    let (stamp, rest) = ts.split_once(' ').unwrap();
    let t: SystemTime = chrono::DateTime::parse_from_rfc3339(stamp).unwrap().into();
    assert!(t >= before);
    assert_eq!(rest, "late\n");
    let limited = collect_all(
        &log,
        LogOptions {
            limit_bytes: Some(8),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(limited, "line1\nli");
    let since = collect_all(
        &log,
        LogOptions {
            since: Some(SystemTime::now() + Duration::from_secs(3600)),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(since, "");
}

fn cgroup_dirs(cg: &str) -> Vec<PathBuf> {
    ["memory", "cpu", "cpuacct", "pids", "unified", ""]
        .iter()
        .map(|c| {
            Path::new("/sys/fs/cgroup")
                .join(c)
                .join(cg.trim_start_matches('/'))
        })
        .filter(|p| p.exists())
        .collect()
}

#[tokio::test]
async fn pod_cgroup_and_remove_cleans_up() {
    let mut f = Fixture::new("remove");
    let pod_cg = format!("{}/pod1", f.cgroup_root);
    f.rt.ensure_pod_cgroup(
        &pod_cg,
        &Resources {
            memory_limit: Some(64 * 1024 * 1024),
            cpu_shares: Some(256),
            pids_limit: Some(100),
            ..Default::default()
        },
    )
    .unwrap();
    let info = f.rt.info();
    // crun wherever it can run, as `Runc::detect` promises.
    let cgroups = minato_runtime::cgroups::Cgroups::detect().unwrap();
    let auto = match minato_runtime::runc::crun_blocker(&cgroups) {
        None => "crun",
        Some(_) => "runc",
    };
    assert_eq!(info.name, auto);
    if info.cgroup_mode != minato_runtime::CgroupMode::V2 {
        let lim = std::fs::read_to_string(format!(
            "/sys/fs/cgroup/memory{pod_cg}/memory.limit_in_bytes"
        ))
        .unwrap();
        assert_eq!(lim.trim(), (64 * 1024 * 1024).to_string());
    }
    let spec = f.spec("rm", &["sleep", "1000"]);
    let (id, cg, log) = (
        spec.id.clone(),
        spec.cgroup_path.clone(),
        spec.log_path.clone(),
    );
    f.rt.create_container(spec).await.unwrap();
    assert!(f
        .rt
        .config()
        .state_dir
        .join("layers")
        .join(&id)
        .join("upper")
        .is_dir());
    let bundle = f.rt.config().state_dir.join("containers").join(&id);
    let rootfs = bundle.join("rootfs");
    assert!(
        minato_runtime::rootfs::is_mounted(&rootfs),
        "overlay rootfs mounted"
    );
    assert!(!cgroup_dirs(&cg).is_empty());
    // Running: refused.
    let err = f.rt.remove_container(&id).await.unwrap_err();
    assert!(matches!(err, RuntimeError::StillRunning(_)), "{err}");
    f.rt.kill(&id, 9).unwrap();
    wait_exit(&f.rt, &id, 20).await;
    f.rt.remove_container(&id).await.unwrap();
    assert!(!minato_runtime::rootfs::is_mounted(&rootfs));
    assert!(!bundle.exists());
    // The writable layer (kept apart from the bundle) goes too.
    let rw = f.rt.config().state_dir.join("layers").join(&id);
    assert!(!rw.exists(), "{} left", rw.display());
    assert!(cgroup_dirs(&cg).is_empty(), "{:?}", cgroup_dirs(&cg));
    assert!(log.exists(), "log file is kept");
    assert!(f.rt.container(&id).unwrap().is_none());
    f.rt.remove_pod_cgroup(&pod_cg).unwrap();
    assert!(cgroup_dirs(&pod_cg).is_empty());
}

#[tokio::test]
async fn start_failure_is_reported_and_cleaned() {
    let mut f = Fixture::new("fail");
    let spec = f.spec("fail", &["/no/such/binary"]);
    let id = spec.id.clone();
    let err = f.rt.create_container(spec).await.unwrap_err();
    assert!(matches!(err, RuntimeError::StartFailed { .. }), "{err}");
    // runc says "no such file or directory", crun "No such file or directory".
    assert!(
        err.to_string().to_lowercase().contains("no such file"),
        "{err}"
    );
    assert!(f.rt.container(&id).unwrap().is_none());
}

#[tokio::test]
async fn shim_killed_container_still_tracked() {
    let mut f = Fixture::new("shimdie");
    let spec = f.spec("shimdie", &["sleep", "1000"]);
    let id = spec.id.clone();
    let rec = f.rt.create_container(spec).await.unwrap();
    let ContainerState::Running { pid, .. } = rec.state else {
        panic!("not running")
    };
    let bundle = f.rt.config().state_dir.join("containers").join(&id);
    let shim: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("shim.pid")).unwrap()).unwrap();
    let shim_pid = shim["pid"].as_i64().unwrap() as i32;
    assert_ne!(shim_pid as u32, pid);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    while Path::new(&format!("/proc/{shim_pid}/stat")).exists()
        && !std::fs::read_to_string(format!("/proc/{shim_pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The container lives on without its shim.
    let rec = f.rt.container(&id).unwrap().unwrap();
    assert!(matches!(rec.state, ContainerState::Running { pid: p, .. } if p == pid));
    f.rt.kill(&id, 9).unwrap();
    let rec = tokio::time::timeout(Duration::from_secs(20), f.rt.wait_exited(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        exit_code(&rec.state),
        255,
        "exit status unknown without the shim"
    );
    assert!(rec.message.unwrap().contains("shim died"));
}

#[test]
fn copy_fallback_applies_whiteouts() {
    let d = tempfile::tempdir().unwrap();
    let (l1, l2, dst) = (
        d.path().join("l1"),
        d.path().join("l2"),
        d.path().join("dst"),
    );
    for p in [&l1.join("dir"), &l1.join("keep"), &l2.join("dir"), &dst] {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(l1.join("gone"), "x").unwrap();
    std::fs::write(l1.join("dir/old"), "x").unwrap();
    std::fs::write(l1.join("keep/k"), "k").unwrap();
    std::os::unix::fs::symlink("keep/k", l1.join("link")).unwrap();
    // overlay whiteout (0:0 char device), tar whiteout, opaque dir (tar form).
    nix::sys::stat::mknod(
        &l2.join("gone"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        0,
    )
    .unwrap();
    std::fs::write(l2.join(".wh.link"), "").unwrap();
    std::fs::write(l2.join("dir/.wh..wh..opq"), "").unwrap();
    std::fs::write(l2.join("dir/new"), "n").unwrap();
    minato_runtime::rootfs::copy_layer(&l1, &dst).unwrap();
    minato_runtime::rootfs::copy_layer(&l2, &dst).unwrap();
    assert!(!dst.join("gone").exists());
    assert!(std::fs::symlink_metadata(dst.join("link")).is_err());
    assert!(!dst.join("dir/old").exists());
    assert_eq!(std::fs::read_to_string(dst.join("dir/new")).unwrap(), "n");
    assert_eq!(std::fs::read_to_string(dst.join("keep/k")).unwrap(), "k");
}

#[tokio::test]
async fn logs_rotate_past_ten_mebibytes_keeping_five_files() {
    let mut f = Fixture::new("rotate");
    // ~56 MiB of output in 1 KiB lines: five rotations, so the oldest rotated file must go.
    let spec = f.spec(
        "rotate",
        &[
            "sh",
            "-c",
            "head -c 57671680 /dev/zero | tr '\\0' 'a' | fold -w 1024",
        ],
    );
    let id = spec.id.clone();
    let log = spec.log_path.clone();
    f.rt.create_container(spec).await.unwrap();
    let st = wait_exit(&f.rt, &id, 120).await;
    assert_eq!(exit_code(&st), 0);
    let dir = log.parent().unwrap();
    let name = log.file_name().unwrap().to_string_lossy().into_owned();
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&name))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 5, "current + 4 rotated: {files:?}");
    for (n, size) in &files {
        assert!(*size <= 11 * 1024 * 1024, "{n} is {size} bytes");
    }
    // The current file is still a valid CRI log.
    assert!(log_lines(&log, "stdout")
        .iter()
        .all(|l| l.len() == 1024 && l.bytes().all(|b| b == b'a')));
}

/// Stops a PID namespace holder even when the test fails half-way.
struct HolderGuard(minato_runtime::PidHolder);

impl Drop for HolderGuard {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[tokio::test]
async fn containers_share_the_holders_pid_namespace() {
    let mut f = Fixture::new("sharepid");
    let holder = HolderGuard(f.rt.start_pid_holder().await.unwrap());
    let h = holder.0;
    assert!(h.is_alive());
    // Outside the pod it looks like upstream's pause process, runs as the pause user, and is
    // confined to an empty root.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", h.pid)).unwrap();
    assert_eq!(cmdline, b"/pause\0");
    let status = std::fs::read_to_string(format!("/proc/{}/status", h.pid)).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("65535")),
        "{status}"
    );
    let root = std::fs::read_link(format!("/proc/{}/root", h.pid)).unwrap();
    assert!(root.ends_with("empty-root"), "{}", root.display());
    let own = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_ne!(std::fs::read_link(h.namespace_path()).unwrap(), own);

    let shared = Namespaces {
        pid: Some(h.namespace_path()),
        ..Default::default()
    };
    let mut sleeper = f.spec("sleeper", &["sleep", "1000"]);
    sleeper.namespaces = shared.clone();
    let sleeper_id = sleeper.id.clone();
    f.rt.create_container(sleeper).await.unwrap();
    let mut lister = f.spec(
        "lister",
        &[
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do echo \"${p#/proc/} $(tr '\\0' ' ' < $p/cmdline)\"; done",
        ],
    );
    lister.namespaces = shared;
    let (lister_id, log) = (lister.id.clone(), lister.log_path.clone());
    f.rt.create_container(lister).await.unwrap();
    assert_eq!(exit_code(&wait_exit(&f.rt, &lister_id, 20).await), 0);
    let lines = log_lines(&log, "stdout");
    assert!(lines.iter().any(|l| l.trim() == "1 /pause"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.trim().ends_with("sleep 1000")),
        "the other container's process is visible: {lines:?}"
    );

    // The namespace ends with its holder, and takes the other container's process with it.
    h.stop();
    wait_killed(&f.rt, &sleeper_id).await;
    assert!(!h.is_alive());
}
