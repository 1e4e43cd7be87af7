//! Test support shared by the component tests (controllers, simulator, …): starts a real
//! `minato server` on a random loopback port with a temporary data dir and gives a kube client
//! for it. The server binary is `$MINATO_BIN` (scripts/test.sh exports it) or this workspace's
//! `target/debug/minato`; a missing binary fails the test rather than skipping it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The server binary under test.
pub fn minato_bin() -> PathBuf {
    let bin = std::env::var_os("MINATO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/debug/minato"
            ))
        });
    assert!(
        bin.is_file(),
        "minato server binary not found at {} (set MINATO_BIN to the built binary)",
        bin.display()
    );
    bin
}

/// A running server, stopped (by its own process handle) when dropped.
pub struct TestServer {
    child: Child,
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

impl TestServer {
    /// Runs `minato server --listen 127.0.0.1:0 --data-dir <tmp> ARGS` from a private copy of
    /// the binary (so a rebuild cannot disturb the test) and waits until it is ready.
    pub async fn start(args: &[&str]) -> TestServer {
        // kube's rustls build leaves the provider choice to the process, as minato's binary does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("minato");
        std::fs::copy(minato_bin(), &bin).expect("copy minato binary");
        // Component tests never run the node agent: it would start containers and touch the
        // host network (tests/src/lib.rs's AgentServer does that deliberately).
        let mut args: Vec<&str> = args.to_vec();
        if !args.contains(&"--no-agent") {
            args.push("--no-agent");
        }
        // A parallel test forking while our copy's write descriptor was open makes exec fail
        // with ETXTBSY for a moment (the descriptor lives on in that child until it execs).
        let mut attempts = 0;
        let mut child = loop {
            let spawned = Command::new(&bin)
                .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
                .arg(dir.path().join("data"))
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn();
            match spawned {
                Ok(c) => break c,
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("start minato server: {e}"),
            }
        };
        let stderr = child.stderr.take().expect("server stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            // Keep draining so the server never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && line.contains("minato is ready on") {
                    let _ = tx.send(line.clone());
                    sent = true;
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not report ready within 60s");
            }
        };
        let kubeconfig = PathBuf::from(
            line.split("kubeconfig: ")
                .nth(1)
                .and_then(|s| s.strip_suffix(')'))
                .expect("kubeconfig path in ready line"),
        );
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("read kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("kubeconfig");
        let client = kube::Client::try_from(config).expect("client");
        if args.contains(&"--no-controllers") {
            // No ServiceAccount controller runs, and admission (as upstream) refuses pods whose
            // ServiceAccount is missing: make `default/default` as that controller would.
            create_default_service_account(&client, "default").await;
        }
        TestServer {
            child,
            client,
            kubeconfig,
            dir,
        }
    }

    /// The temporary directory holding the server's data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Only the server this test started, by its own handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates the `default` ServiceAccount in `namespace` (what the ServiceAccount controller
/// does), for tests that run the server without controllers; an existing one is fine.
pub async fn create_default_service_account(client: &kube::Client, namespace: &str) {
    let api: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        kube::Api::namespaced(client.clone(), namespace);
    let sa: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "default"}}))
            .expect("service account");
    match api.create(&Default::default(), &sa).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("create default service account in {namespace}: {e}"),
    }
}
