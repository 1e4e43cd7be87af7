//! Running CNI plugins per the CNI spec (v1.0): exec the plugin binary with the CNI_* environment
//! and the network config on stdin; a zero exit means success (result JSON on stdout), non-zero
//! means an error object `{code, msg, details}` on stdout.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::debug;

use crate::NetError;

/// A plugin that hangs must not wedge pod setup forever.
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) struct Runner {
    bin_dirs: Vec<PathBuf>,
}

impl Runner {
    pub(crate) fn new(bin_dirs: Vec<PathBuf>) -> Runner {
        Runner { bin_dirs }
    }

    fn dirs_text(&self) -> String {
        self.bin_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn find(&self, plugin: &str) -> Result<PathBuf, NetError> {
        self.bin_dirs
            .iter()
            .map(|d| d.join(plugin))
            .find(|p| p.is_file())
            .ok_or_else(|| NetError::PluginMissing {
                plugin: plugin.to_string(),
                dirs: self.dirs_text(),
            })
    }

    pub(crate) fn check_plugins(&self, names: &[&str]) -> Result<(), NetError> {
        for n in names {
            self.find(n)?;
        }
        Ok(())
    }

    /// Runs one plugin. Returns the parsed stdout (None when empty, e.g. for DEL).
    pub(crate) fn exec(
        &self,
        command: &str,
        conf: &Value,
        container_id: &str,
        netns: &str,
        ifname: &str,
        args: &str,
    ) -> Result<Option<Value>, NetError> {
        let plugin = conf
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| NetError::Internal(format!("CNI config without a type: {conf}")))?
            .to_string();
        let fail = |msg: String| NetError::Cni {
            command: command.to_string(),
            plugin: plugin.clone(),
            pod_uid: container_id.to_string(),
            msg,
        };
        let bin = self.find(&plugin)?;
        let cni_path = std::env::join_paths(&self.bin_dirs)
            .map_err(|e| NetError::Config(format!("CNI bin dirs: {e}")))?;
        // portmap exec's iptables; make sure the sbin dirs are searched even from a minimal env.
        let mut path = std::env::var("PATH").unwrap_or_default();
        for d in ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            if !path.split(':').any(|p| p == d) {
                if !path.is_empty() {
                    path.push(':');
                }
                path.push_str(d);
            }
        }
        let stdin = serde_json::to_vec(conf)
            .map_err(|e| NetError::Internal(format!("encoding CNI config: {e}")))?;
        debug!(%plugin, command, container_id, netns, ifname, "exec CNI plugin");
        let mut child = Command::new(&bin)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", container_id)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", ifname)
            .env("CNI_ARGS", args)
            .env("CNI_PATH", cni_path)
            .env("PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", bin.display())))?;
        let out_reader = child.stdout.take().map(|mut s| {
            std::thread::spawn(move || {
                let mut b = Vec::new();
                let _ = s.read_to_end(&mut b);
                b
            })
        });
        let err_reader = child.stderr.take().map(|mut s| {
            std::thread::spawn(move || {
                let mut b = Vec::new();
                let _ = s.read_to_end(&mut b);
                b
            })
        });
        if let Some(mut si) = child.stdin.take() {
            // A plugin may exit without reading stdin; its exit status tells us what happened.
            let _ = si.write_all(&stdin);
        }
        let deadline = Instant::now() + PLUGIN_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!(
                        "timed out after {}s",
                        PLUGIN_TIMEOUT.as_secs()
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(fail(format!("waiting for the plugin: {e}"))),
            }
        };
        let stdout = out_reader.and_then(|h| h.join().ok()).unwrap_or_default();
        let stderr = err_reader.and_then(|h| h.join().ok()).unwrap_or_default();
        let parsed: Option<Value> = if stdout.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(serde_json::from_slice(&stdout).map_err(|e| {
                fail(format!(
                    "unparsable output ({e}): {}",
                    String::from_utf8_lossy(&stdout)
                ))
            })?)
        };
        if !status.success() {
            let mut msg = match &parsed {
                Some(v) => {
                    let m = v.get("msg").and_then(Value::as_str).unwrap_or("");
                    let d = v.get("details").and_then(Value::as_str).unwrap_or("");
                    let code = v.get("code").and_then(Value::as_u64).unwrap_or(0);
                    format!("{m} {d} (code {code})").trim().to_string()
                }
                None => format!("exit status {status}"),
            };
            let se = String::from_utf8_lossy(&stderr);
            if !se.trim().is_empty() {
                msg.push_str(&format!("; stderr: {}", se.trim()));
            }
            return Err(fail(msg));
        }
        Ok(parsed)
    }

    /// ADD through a conflist, chained after the link we made (`prev`, a CNI result): each
    /// plugin gets the previous one's result as prevResult. Returns the last result.
    pub(crate) fn add_list(
        &self,
        list: &Value,
        container_id: &str,
        netns: &str,
        ifname: &str,
        args: &str,
        prev: Value,
    ) -> Result<Value, NetError> {
        let mut prev = prev;
        for conf in plugin_confs(list, None)? {
            let mut conf = conf;
            conf["prevResult"] = prev.clone();
            if let Some(res) = self.exec("ADD", &conf, container_id, netns, ifname, args)? {
                prev = res;
            }
        }
        Ok(prev)
    }

    /// DEL through a conflist in reverse order, with the cached ADD result as prevResult.
    /// Every plugin is tried; the first error is returned.
    pub(crate) fn del_list(
        &self,
        list: &Value,
        prev: Option<&Value>,
        container_id: &str,
        netns: &str,
        ifname: &str,
        args: &str,
    ) -> Result<(), NetError> {
        let mut first_err = None;
        for conf in plugin_confs(list, prev)?.into_iter().rev() {
            if let Err(e) = self.exec("DEL", &conf, container_id, netns, ifname, args) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Per-plugin configs of a conflist, with the list's name and version filled in.
fn plugin_confs(list: &Value, prev: Option<&Value>) -> Result<Vec<Value>, NetError> {
    let plugins = list
        .get("plugins")
        .and_then(Value::as_array)
        .ok_or_else(|| NetError::Internal(format!("CNI conflist without plugins: {list}")))?;
    Ok(plugins
        .iter()
        .map(|p| {
            let mut c = p.clone();
            c["cniVersion"] = list["cniVersion"].clone();
            c["name"] = list["name"].clone();
            if let Some(pr) = prev {
                c["prevResult"] = pr.clone();
            }
            c
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflist_fills_name_and_version() {
        let l = serde_json::json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "a"}, {"type": "b"}]});
        let c = plugin_confs(&l, None).expect("confs");
        assert_eq!(c.len(), 2);
        assert_eq!(c[1]["name"], "n");
        assert_eq!(c[0]["cniVersion"], "1.0.0");
    }
}
