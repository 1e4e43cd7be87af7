//! The official Python client drives the server (create, list, watch, patch, delete).

use minato_e2e::Server;

fn python() -> String {
    if let Ok(p) = std::env::var("MINATO_PYTHON") {
        return p;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    if std::path::Path::new(venv).exists() {
        return venv.to_string();
    }
    panic!("the Python client is needed: python3 -m venv .venv && .venv/bin/pip install kubernetes (or set MINATO_PYTHON)");
}

#[test]
fn python_client_end_to_end() {
    let s = Server::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/client_test.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .arg(&s.kubeconfig)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ALL OK"),
        "python client test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
