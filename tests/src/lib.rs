//! Test support: start a real `minato server` on a random loopback port with a temporary data
//! dir, and drive it with the real `kubectl`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `minato` binary under test: `$MINATO_BIN`, or the one cargo built beside the tests.
pub fn minato_bin() -> PathBuf {
    if let Ok(p) = std::env::var("MINATO_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test-binary> → target/<profile>/minato
    let exe = std::env::current_exe().expect("current test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile_dir.join("minato");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p minato), or set MINATO_BIN",
        bin.display()
    );
    bin
}

/// `minato ARGS…` as the tests run it: the log level from `$MINATO_LOG` (default warn), stdout
/// discarded, stderr piped for the caller to collect.
fn minato_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(minato_bin());
    cmd.args(args)
        .env(
            "MINATO_LOG",
            std::env::var("MINATO_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// A running server, stopped (by PID) when dropped.
pub struct Server {
    child: Child,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub url: String,
    cache_dir: PathBuf,
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Starts a server with extra command-line arguments and waits until it is ready.
    pub fn start_with(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, extra)
    }

    /// Starts a server on an existing data dir (for restart tests). No node agent runs (API
    /// and controller tests must not start containers or touch the host network); see
    /// [`AgentServer`] for a server with a real node.
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let mut args: Vec<&str> = extra.to_vec();
        if !args.contains(&"--with-agent") {
            args.push("--no-agent");
        }
        args.retain(|a| *a != "--with-agent");
        let mut child = minato_command(&["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(&args)
            .spawn()
            .expect("start minato server");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let logs2 = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("minato is ready on ") {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
                logs2.lock().unwrap().push(line);
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "minato server did not become ready: {:?}",
                    logs.lock().unwrap()
                );
            }
        };
        let kubeconfig = dir.path().join("admin.kubeconfig");
        let cache_dir = dir.path().join("kubectl-cache");
        let server = Server {
            child,
            dir,
            kubeconfig,
            url,
            cache_dir,
            logs,
        };
        if args.contains(&"--no-controllers") {
            // No ServiceAccount controller runs, and admission (as upstream) refuses pods
            // whose ServiceAccount is missing: make `default/default` as it would.
            let out = server.kubectl(&["create", "serviceaccount", "default", "-n", "default"]);
            assert!(
                out.status.success() || crate::stderr(&out).contains("already exists"),
                "create default service account: {}",
                crate::stderr(&out)
            );
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs kubectl against this server.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, None)
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        } else {
            cmd.stdin(Stdio::null());
        }
        let mut child = cmd.spawn().expect("kubectl on PATH");
        if let Some(input) = stdin {
            use std::io::Write;
            let mut s = child.stdin.take().expect("stdin piped");
            s.write_all(input.as_bytes()).expect("write kubectl stdin");
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// Runs kubectl and returns stdout, panicking with both streams on failure.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {:?} failed ({}):\nstdout: {}\nstderr: {}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {:?} unexpectedly succeeded:\n{}",
            args,
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `kubectl apply -f -` of a manifest string.
    pub fn apply(&self, manifest: &str) -> String {
        let out = self.kubectl_stdin(&["apply", "-f", "-"], Some(manifest));
        assert!(
            out.status.success(),
            "apply failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of a manifest the server must refuse; returns kubectl's stderr.
    pub fn apply_fails(&self, manifest: &str) -> String {
        let out = self.kubectl_stdin(&["apply", "-f", "-"], Some(manifest));
        assert!(
            !out.status.success(),
            "apply unexpectedly succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// An object as JSON.
    pub fn get_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a: Vec<&str> = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).expect("kubectl -o json output")
    }

    /// Kills the server with SIGKILL (for durability tests) and returns its data dir.
    pub fn kill9(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only our own child, by PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The seed manifests directory (shared/ beside the checkout).
pub fn seeds_dir() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest_dir.join("../../shared/seeds/manifests"),
        PathBuf::from("/work/shared/seeds/manifests"),
    ];
    for c in candidates {
        if c.exists() {
            return c;
        }
    }
    panic!("shared/seeds/manifests not found beside the checkout")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A server with its local node agent running real containers, on a bridge, pod range,
/// service range and cgroup of its own (so tests can run side by side). Dropping it stops
/// the server and runs `minato reset`, which removes every container, sandbox, mount, network
/// rule and cgroup the agent made.
pub struct AgentServer {
    pub server: Option<Server>,
    pub reset_args: Vec<String>,
    agent_args: Vec<String>,
    /// A `minato agent` process of its own (see [`AgentServer::start_joined`]), else the
    /// server's embedded agent runs the node.
    agent: Option<Child>,
}

static AGENT_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl AgentServer {
    /// Starts a server with an agent; `images` are image archives imported into the node's
    /// store first (for `imagePullPolicy: Never`), `registries` an optional registries.yaml.
    pub fn start(images: &[&std::path::Path], registries: Option<&std::path::Path>) -> AgentServer {
        Self::start_with(images, registries, &[])
    }

    /// As [`AgentServer::start`], with extra `minato server` flags.
    pub fn start_with(
        images: &[&std::path::Path],
        registries: Option<&std::path::Path>,
        extra: &[&str],
    ) -> AgentServer {
        Self::launch(images, registries, extra, false)
    }

    /// As [`AgentServer::start`], but the node is a separate `minato agent` process that joins
    /// a `--no-agent` server by its URL and join token, as a second machine would.
    pub fn start_joined(images: &[&std::path::Path]) -> AgentServer {
        Self::launch(images, None, &[], true)
    }

    fn launch(
        images: &[&std::path::Path],
        registries: Option<&std::path::Path>,
        extra: &[&str],
        joined: bool,
    ) -> AgentServer {
        let n = (std::process::id() % 40
            + AGENT_SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
            % 80;
        let bridge = format!("mnt{}x{n}", std::process::id() % 1000);
        let cluster_cidr = format!("10.{}.0.0/16", 160 + n);
        let service_cidr = format!("10.{}.0.0/16", 60 + n);
        let cgroup_root = format!("/minato-test-{}-{n}", std::process::id());
        let dir = tempfile::tempdir().expect("temp dir");
        for archive in images {
            let out = Command::new(minato_bin())
                .args(["images", "--data-dir"])
                .arg(dir.path().join("agent"))
                .arg("import")
                .arg(archive)
                .output()
                .expect("run minato images import");
            assert!(
                out.status.success(),
                "image import failed: {}",
                crate::stderr(&out)
            );
        }
        let mut agent_args: Vec<String> = vec![
            "--with-agent".into(),
            "--kubelet-port".into(),
            "0".into(),
            "--bridge".into(),
            bridge.clone(),
            "--cluster-cidr".into(),
            cluster_cidr.clone(),
            "--service-cidr".into(),
            service_cidr.clone(),
            "--cgroup-root".into(),
            cgroup_root.clone(),
            "--node-name".into(),
            format!("node-{n}"),
        ];
        agent_args.push("--registries".into());
        agent_args.push(
            registries
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| dir.path().join("no-registries.yaml").display().to_string()),
        );
        if !extra.contains(&"--eviction-hard") {
            // The kubelet's default disk thresholds (10% / 15% free) are met on a shared
            // build machine whose disk is mostly full of build output; the node would then be
            // tainted disk-pressure and run nothing. Tests watch memory and an absolute floor.
            agent_args.push("--eviction-hard".into());
            agent_args.push("memory.available<100Mi,nodefs.available<256Mi".into());
        }
        agent_args.extend(extra.iter().map(|a| a.to_string()));
        let reset_args = vec![
            "reset".into(),
            "--data-dir".into(),
            dir.path().join("agent").display().to_string(),
            "--bridge".into(),
            bridge,
            "--cgroup-root".into(),
            cgroup_root,
            "--cluster-cidr".into(),
            cluster_cidr.clone(),
            "--service-cidr".into(),
            service_cidr.clone(),
        ];
        if !joined {
            let args: Vec<&str> = agent_args.iter().map(String::as_str).collect();
            let s = AgentServer {
                server: Some(Server::start_in(dir, &args)),
                reset_args,
                agent_args,
                agent: None,
            };
            s.wait_node_ready();
            return s;
        }
        // The server allocates the node's pod range and Service IPs from the same ranges.
        let server = Server::start_in(
            dir,
            &[
                "--cluster-cidr",
                &cluster_cidr,
                "--service-cidr",
                &service_cidr,
            ],
        );
        let token = std::fs::read_to_string(server.dir.path().join("node-token"))
            .expect("the server wrote its join token");
        let mut child = minato_command(&["agent", "--server", &server.url, "--data-dir"])
            .arg(server.dir.path().join("agent"))
            .args(agent_args.iter().filter(|a| *a != "--with-agent"))
            .env("MINATO_TOKEN", token.trim())
            .spawn()
            .expect("start minato agent");
        let stderr = child.stderr.take().expect("stderr piped");
        let logs = server.logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut l) = logs.lock() {
                    l.push(format!("[agent] {line}"));
                }
            }
        });
        let s = AgentServer {
            server: Some(server),
            reset_args,
            agent_args,
            agent: Some(child),
        };
        s.wait_node_ready();
        s
    }

    /// The separate agent's process id ([`AgentServer::start_joined`]).
    pub fn agent_pid(&self) -> Option<u32> {
        self.agent.as_ref().map(Child::id)
    }

    pub fn s(&self) -> &Server {
        self.server.as_ref().expect("server running")
    }

    fn wait_node_ready(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.s().kubectl(&[
                "get",
                "nodes",
                "-o",
                "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
            ]);
            if stdout(&out).contains("True") {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "node never became Ready: {:?}",
                self.s().logs.lock().map(|l| l.clone()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `kill -9` of the server (containers keep running under their shims), then a new server
    /// on the same data dir.
    /// Kills the server and starts it again on the same data dir with other hard eviction
    /// thresholds (`--eviction-hard`), as an operator changing the node's configuration.
    pub fn restart_with_eviction_hard(&mut self, thresholds: &str) {
        if let Some(i) = self.agent_args.iter().position(|a| a == "--eviction-hard") {
            self.agent_args.drain(i..i + 2);
        }
        self.agent_args.push("--eviction-hard".into());
        self.agent_args.push(thresholds.into());
        self.kill9_and_restart();
    }

    pub fn kill9_and_restart(&mut self) {
        let server = self.server.take().expect("server running");
        let dir = server.kill9();
        let args: Vec<&str> = self.agent_args.iter().map(String::as_str).collect();
        self.server = Some(Server::start_in(dir, &args));
        self.wait_node_ready();
    }
}

impl AgentServer {
    /// Prints what a person would look at when a test failed: the node's conditions and
    /// taints, the pods, recent events and the end of the server's log.
    pub fn print_diagnostics(&self) {
        let Some(s) = self.server.as_ref() else {
            return;
        };
        let show = |args: &[&str]| {
            let out = s.kubectl(args);
            eprintln!(
                "--- kubectl {}\n{}{}",
                args.join(" "),
                stdout(&out),
                stderr(&out)
            );
        };
        show(&[
            "get",
            "nodes",
            "-o",
            "custom-columns=NAME:.metadata.name,CONDITIONS:.status.conditions[*].type,STATUS:.status.conditions[*].status,TAINTS:.spec.taints[*].key",
        ]);
        show(&["get", "pods", "-A", "-o", "wide"]);
        show(&["get", "events", "-A", "--sort-by=.lastTimestamp"]);
        let logs = s.logs.lock().map(|l| l.clone()).unwrap_or_default();
        let tail = logs.len().saturating_sub(60);
        eprintln!("--- server log (last {} lines)", logs.len() - tail);
        for line in &logs[tail..] {
            eprintln!("{line}");
        }
    }
}

impl Drop for AgentServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_diagnostics();
        }
        // Stop the agent and the server (our children, by PID) first so nothing restarts
        // what reset removes.
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        let dir = self.server.take().map(|s| s.kill9());
        let out = Command::new(minato_bin()).args(&self.reset_args).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("minato reset failed: {}", stderr(&o)),
            Err(e) => eprintln!("cannot run minato reset: {e}"),
        }
        drop(dir);
    }
}

/// A registry (Debian's docker-registry) on a free loopback port, stopped on drop.
pub struct Registry {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry; with `htpasswd` (file contents) it requires basic auth.
    pub fn start(htpasswd: Option<&str>) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\nlog:\n  level: error\n",
            dir.path().join("data").display()
        );
        if let Some(h) = htpasswd {
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, h).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: minato-test\n    path: {}\n",
                path.display()
            ));
        }
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, config).expect("write registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry on PATH (apt-get install docker-registry)");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "registry did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Registry {
            child,
            addr,
            _dir: dir,
        }
    }

    /// Pushes an OCI layout image (`oci:DIR:TAG`) as NAME:TAG, optionally with credentials.
    pub fn push(&self, layout: &std::path::Path, tag: &str, name: &str, creds: Option<&str>) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "-q", "--dest-tls-verify=false"]);
        if let Some(c) = creds {
            cmd.args(["--dest-creds", c]);
        }
        let out = cmd
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{name}", self.addr))
            .output()
            .expect("skopeo on PATH");
        assert!(out.status.success(), "skopeo push failed: {}", stderr(&out));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A busybox image built offline from Debian's busybox-static, as an OCI layout under `dir`
/// with tag `1.0` (umoci), plus a docker-archive of it named `localhost/busybox:1.0`.
pub fn busybox_image(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir rootfs");
    std::fs::create_dir_all(rootfs.join("tmp")).expect("mkdir tmp");
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .expect("/bin/busybox (apt-get install busybox-static)");
    for applet in [
        "sh", "ls", "cat", "echo", "sleep", "httpd", "wget", "env", "hostname", "ps", "id", "nc",
        "head", "tr", "mkdir", "true", "false", "test", "kill", "date", "stat", "yes", "dd",
        "stty", "tty",
    ] {
        let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
    }
    let layout = dir.join("oci");
    let run = |args: &[&str]| {
        let out = Command::new("umoci")
            .args(args)
            .output()
            .expect("umoci on PATH");
        assert!(out.status.success(), "umoci {args:?}: {}", stderr(&out));
    };
    let l = layout.display().to_string();
    run(&["init", "--layout", &l]);
    run(&["new", "--image", &format!("{l}:1.0")]);
    run(&[
        "insert",
        "--image",
        &format!("{l}:1.0"),
        &rootfs.display().to_string(),
        "/",
    ]);
    run(&[
        "config",
        "--image",
        &format!("{l}:1.0"),
        "--config.cmd",
        "sh",
        "--config.env",
        "PATH=/bin",
    ]);
    let archive = dir.join("busybox.tar");
    let out = Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("oci:{l}:1.0"))
        .arg(format!(
            "docker-archive:{}:localhost/busybox:1.0",
            archive.display()
        ))
        .output()
        .expect("skopeo on PATH");
    assert!(out.status.success(), "skopeo: {}", stderr(&out));
    (layout, archive)
}

/// Polls `f` until it returns Some, or panics with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
