//! Host-side setup: forwarding sysctl, the bridge, the service route and the nftables safety
//! chain. Uses the `ip` and `nft` CLIs (iproute2/nftables): a handful of idempotent calls at
//! start-up, not worth a netlink stack.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::RwLock;

use ipnet::IpNet;
use tracing::debug;

use crate::{io_err, NetError};

/// Host-wide changes (new(), teardown) take it for writing; CNI ADD/DEL take it for reading, so
/// a teardown never removes shared portmap/nft scaffolding under a running plugin (in-process
/// only; several networks can share the nft table and the portmap chains).
pub(crate) static HOST_LOCK: RwLock<()> = RwLock::new(());

pub(crate) const NFT_TABLE: &str = "minato-podnet";

pub(crate) fn nft_chain(bridge: &str) -> String {
    format!("forward-{bridge}")
}

const SBIN: [&str; 5] = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"];

fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .filter(|d| !d.is_empty())
        .chain(SBIN)
        .map(|d| PathBuf::from(d).join(tool))
        .find(|p| p.is_file());
    found
}

pub(crate) fn require_tool(tool: &str, package: &str) -> Result<(), NetError> {
    find_tool(tool)
        .map(|_| ())
        .ok_or_else(|| NetError::ToolMissing {
            tool: tool.into(),
            package: package.into(),
        })
}

/// Runs a tool; returns stdout, or an error with its stderr.
fn run(tool: &str, args: &[&str], stdin: Option<&str>) -> Result<String, NetError> {
    let bin = find_tool(tool).ok_or_else(|| NetError::ToolMissing {
        tool: tool.into(),
        package: match tool {
            "nft" => "nftables",
            "ip" => "iproute2",
            other => other,
        }
        .into(),
    })?;
    let cmd = format!("{tool} {}", args.join(" "));
    debug!(%cmd, "host command");
    let mut child = Command::new(bin)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err(format!("running `{cmd}`")))?;
    if let (Some(input), Some(mut si)) = (stdin, child.stdin.take()) {
        si.write_all(input.as_bytes())
            .map_err(io_err(format!("writing to `{cmd}`")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(io_err(format!("running `{cmd}`")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NetError::Command {
            cmd,
            msg: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

pub(crate) fn enable_forwarding(pod_net: IpNet) -> Result<(), NetError> {
    let p = match pod_net {
        IpNet::V4(_) => "/proc/sys/net/ipv4/ip_forward",
        IpNet::V6(_) => "/proc/sys/net/ipv6/conf/all/forwarding",
    };
    let cur = std::fs::read_to_string(p).map_err(io_err(format!("reading {p}")))?;
    if cur.trim() != "1" {
        std::fs::write(p, "1").map_err(io_err(format!(
            "enabling forwarding ({p}); the agent must run as root"
        )))?;
    }
    Ok(())
}

fn link_kind(name: &str) -> Result<Option<String>, NetError> {
    match run("ip", &["-d", "-j", "link", "show", "dev", name], None) {
        Ok(out) => {
            let v: serde_json::Value = serde_json::from_str(&out)
                .map_err(|e| NetError::Internal(format!("parsing `ip -j link` output: {e}")))?;
            Ok(Some(
                v.get(0)
                    .and_then(|l| l.get("linkinfo"))
                    .and_then(|l| l.get("info_kind"))
                    .and_then(|k| k.as_str())
                    .unwrap_or("")
                    .to_string(),
            ))
        }
        Err(NetError::Command { msg, .. }) if msg.contains("does not exist") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates the bridge with the gateway address (so the service route and the host side exist
/// before the first pod; the CNI bridge plugin then finds it ready).
pub(crate) fn ensure_bridge(
    name: &str,
    gateway: IpAddr,
    prefix: u8,
    mtu: Option<u32>,
) -> Result<(), NetError> {
    match link_kind(name)? {
        Some(k) if k == "bridge" => {}
        Some(k) => {
            let msg = format!("interface {name} is a {k:?} link, not a bridge: pick another name");
            return Err(NetError::Config(msg));
        }
        None => match run("ip", &["link", "add", name, "type", "bridge"], None) {
            Ok(_) => {}
            Err(NetError::Command { msg, .. }) if msg.contains("File exists") => {}
            Err(e) => return Err(e),
        },
    }
    if let Some(mtu) = mtu {
        run(
            "ip",
            &["link", "set", "dev", name, "mtu", &mtu.to_string()],
            None,
        )?;
    }
    run(
        "ip",
        &[
            "addr",
            "replace",
            &format!("{gateway}/{prefix}"),
            "dev",
            name,
        ],
        None,
    )?;
    run("ip", &["link", "set", "dev", name, "up"], None)?;
    Ok(())
}

pub(crate) fn delete_link(name: &str) -> Result<(), NetError> {
    if link_kind(name)?.is_some() {
        match run("ip", &["link", "del", "dev", name], None) {
            Ok(_) => {}
            Err(NetError::Command { msg, .. }) if msg.contains("Cannot find device") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(crate) fn route_replace(cidr: IpNet, bridge: &str) -> Result<(), NetError> {
    run(
        "ip",
        &["route", "replace", &cidr.to_string(), "dev", bridge],
        None,
    )
    .map(|_| ())
}

pub(crate) fn route_delete(cidr: IpNet, bridge: &str) -> Result<(), NetError> {
    let c = cidr.to_string();
    let shown = run("ip", &["route", "show", "exact", &c, "dev", bridge], None).unwrap_or_default();
    if shown.trim().is_empty() {
        return Ok(());
    }
    run("ip", &["route", "del", &c, "dev", bridge], None).map(|_| ())
}

/// The nft script for one bridge: one atomic transaction, safe to re-apply.
pub(crate) fn nft_script(bridge: &str, cluster: IpNet) -> String {
    let chain = nft_chain(bridge);
    let fam = match cluster {
        IpNet::V4(_) => "ip",
        IpNet::V6(_) => "ip6",
    };
    // priority filter - 1: before Docker's/iptables-nft filter chains (priority 0). A drop in
    // any base chain is final, so nothing later can let these packets out.
    format!(
        "add table inet {NFT_TABLE}\n\
         add chain inet {NFT_TABLE} {chain} {{ type filter hook forward priority filter - 1; policy accept; }}\n\
         flush chain inet {NFT_TABLE} {chain}\n\
         add rule inet {NFT_TABLE} {chain} {fam} saddr {cluster} oifname != \"{bridge}\" counter drop comment \"minato: pod traffic never leaves the node\"\n"
    )
}

pub(crate) fn install_nft(bridge: &str, cluster: IpNet) -> Result<(), NetError> {
    run("nft", &["-f", "-"], Some(&nft_script(bridge, cluster))).map(|_| ())
}

pub(crate) fn remove_nft(bridge: &str) -> Result<(), NetError> {
    let chain = nft_chain(bridge);
    if run("nft", &["list", "chain", "inet", NFT_TABLE, &chain], None).is_ok() {
        // A chain must be empty to be deleted: flush and delete in one transaction.
        let script = format!(
            "flush chain inet {NFT_TABLE} {chain}\ndelete chain inet {NFT_TABLE} {chain}\n"
        );
        run("nft", &["-f", "-"], Some(&script))?;
    }
    if let Ok(table) = run("nft", &["list", "table", "inet", NFT_TABLE], None) {
        if !table.lines().any(|l| l.trim_start().starts_with("chain ")) {
            run("nft", &["delete", "table", "inet", NFT_TABLE], None)?;
        }
    }
    Ok(())
}

/// Chains the portmap plugin creates once and shares between all its users; it never removes them.
const PORTMAP_CHAINS: [&str; 3] = [
    "CNI-HOSTPORT-DNAT",
    "CNI-HOSTPORT-MASQ",
    "CNI-HOSTPORT-SETMARK",
];
/// The same for the firewall plugin (CNI-ADMIN is for admins' own overrides).
const FIREWALL_CHAINS: [&str; 2] = ["CNI-FORWARD", "CNI-ADMIN"];

/// Removes the shared iptables scaffolding of the portmap and firewall plugins (jumps and
/// CNI-* chains) once nobody uses it (no host port mapped, no pod rule, no admin override),
/// then the nft tables iptables-nft made for it if they hold nothing else. Anything still in
/// use is left alone.
pub(crate) fn cleanup_cni_iptables() -> Result<(), NetError> {
    for (tool, family) in [("iptables", "ip"), ("ip6tables", "ip6")] {
        if find_tool(tool).is_none() {
            continue;
        }
        // portmap: in use while CNI-HOSTPORT-DNAT has a rule (one jump per mapped pod).
        remove_chains(tool, "nat", &PORTMAP_CHAINS, |rules| {
            rules
                .iter()
                .any(|r| r.first().is_some_and(|c| c == PORTMAP_CHAINS[0]))
        })?;
        // firewall: in use while CNI-FORWARD has more than its jump to CNI-ADMIN, or an admin
        // put rules in CNI-ADMIN.
        remove_chains(tool, "filter", &FIREWALL_CHAINS, |rules| {
            rules.iter().any(|r| {
                let chain = r.first().map(String::as_str);
                chain == Some("CNI-ADMIN")
                    || (chain == Some("CNI-FORWARD") && !r.ends_with(&["CNI-ADMIN".to_string()]))
            })
        })?;
        // iptables-nft leaves nft tables behind; drop one only when it has no rules and no user
        // chains (only ACCEPT policies), i.e. when it is a no-op for everyone.
        let nft_backend = run(tool, &["-V"], None).is_ok_and(|v| v.contains("nf_tables"));
        for table in ["nat", "filter"] {
            if nft_backend && run("nft", &["list", "table", family, table], None).is_ok() {
                let rest = run(tool, &["-w", "-t", table, "-S"], None)?;
                if rest
                    .lines()
                    .all(|l| l.starts_with("-P ") && l.ends_with(" ACCEPT"))
                {
                    run("nft", &["delete", "table", family, table], None)?;
                }
            }
        }
    }
    Ok(())
}

/// Deletes `chains` in `table` and every jump to them, unless `in_use` says otherwise. It gets
/// the chains' own rules as words after "-A" (chain name first).
fn remove_chains(
    tool: &str,
    table: &str,
    chains: &[&str],
    in_use: impl Fn(&[Vec<String>]) -> bool,
) -> Result<(), NetError> {
    let Ok(all) = run(tool, &["-w", "-t", table, "-S"], None) else {
        return Ok(());
    };
    let rules: Vec<Vec<String>> = all
        .lines()
        .map(split_rule)
        .filter(|w| w.first().is_some_and(|a| a == "-A"))
        .map(|w| w[1..].to_vec())
        .collect();
    let exists = all
        .lines()
        .any(|l| chains.iter().any(|c| l == format!("-N {c}")));
    if !exists {
        return Ok(());
    }
    let own: Vec<Vec<String>> = rules
        .iter()
        .filter(|r| r.first().is_some_and(|c| chains.contains(&c.as_str())))
        .cloned()
        .collect();
    if in_use(&own) {
        return Ok(());
    }
    for r in &rules {
        let from_outside = r.first().is_some_and(|c| !chains.contains(&c.as_str()));
        let jumps_in = r
            .windows(2)
            .any(|w| (w[0] == "-j" || w[0] == "-g") && chains.contains(&w[1].as_str()));
        if from_outside && jumps_in {
            let mut args: Vec<&str> = vec!["-w", "-t", table, "-D"];
            args.extend(r.iter().map(String::as_str));
            run(tool, &args, None)?;
        }
    }
    for c in chains {
        if run(tool, &["-w", "-t", table, "-F", c], None).is_ok() {
            run(tool, &["-w", "-t", table, "-X", c], None)?;
        }
    }
    Ok(())
}

/// Splits an `iptables -S` line into words, honouring double quotes (comments).
fn split_rule(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ' ' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// Whether iptables' filter FORWARD chain drops by default (Docker sets that policy). Read
/// once per process: it changes only when such a daemon starts.
pub(crate) fn forward_policy_drops() -> bool {
    static DROPS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DROPS.get_or_init(|| {
        std::process::Command::new("iptables")
            .args(["-w", "-S", "FORWARD"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.trim() == "-P FORWARD DROP")
            })
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_iptables_rules() {
        assert_eq!(
            super::split_rule(
                r#"-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ"#
            ),
            vec![
                "-A",
                "POSTROUTING",
                "-m",
                "comment",
                "--comment",
                "CNI portfwd requiring masquerade",
                "-j",
                "CNI-HOSTPORT-MASQ"
            ]
        );
    }

    #[test]
    fn script_drops_cluster_traffic_not_on_bridge() {
        let s = super::nft_script("minato0", "10.244.0.0/16".parse().expect("cidr"));
        assert!(s.contains("hook forward priority filter - 1"));
        assert!(s.contains("ip saddr 10.244.0.0/16 oifname != \"minato0\" counter drop"));
        assert!(!s.contains("masquerade"));
    }
}
