//! The pod's /etc/hosts, /etc/resolv.conf and /etc/hostname, in the kubelet's formats.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;

use crate::{io_err, NetError};

/// Writes via a temp file + rename so a reader (a starting container) never sees half a file.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), NetError> {
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(io_err(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("renaming {}", tmp.display())))
}

pub(crate) fn write_file(path: &Path, content: &str) -> Result<(), NetError> {
    write_atomic(path, content.as_bytes())
}

/// Upstream truncates pod hostnames to 63 characters and trims a trailing '-' or '.'.
pub(crate) fn pod_hostname(hostname: &str, pod_name: &str) -> Result<String, NetError> {
    let h = if hostname.is_empty() {
        pod_name
    } else {
        hostname
    };
    let mut h: String = h.chars().take(63).collect();
    while h.ends_with('-') || h.ends_with('.') {
        h.pop();
    }
    if h.is_empty() {
        return Err(NetError::Spec("the pod has no hostname and no name".into()));
    }
    if !h
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(NetError::Spec(format!("invalid pod hostname {h:?}")));
    }
    Ok(h)
}

pub(crate) fn node_hostname() -> Result<String, NetError> {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .map_err(|source| NetError::Sys {
            what: "reading the node's hostname".into(),
            source,
        })
}

const MANAGED_HEADER: &str = "# Kubernetes-managed hosts file.\n";

/// The kubelet's managed hosts file. Entries with an unspecified address name the pod itself.
pub(crate) fn hosts_content(
    host_network: bool,
    pod_ip: Option<IpAddr>,
    hostname: &str,
    entries: &[(IpAddr, Vec<String>)],
) -> Result<String, NetError> {
    let mut s = String::new();
    if host_network {
        // As upstream: the node's own hosts file, then the aliases.
        let node = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        s.push_str("# Kubernetes-managed hosts file (host network).\n");
        s.push_str(&node);
        if !s.ends_with('\n') {
            s.push('\n');
        }
    } else {
        s.push_str(MANAGED_HEADER);
        s.push_str(
            "127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             fe00::0\tip6-mcastprefix\n\
             fe00::1\tip6-allnodes\n\
             fe00::2\tip6-allrouters\n",
        );
        if let Some(ip) = pod_ip {
            let mut names: Vec<&str> = entries
                .iter()
                .filter(|(a, _)| a.is_unspecified())
                .flat_map(|(_, n)| n.iter().map(String::as_str))
                .filter(|n| *n != hostname)
                .collect();
            names.push(hostname);
            let _ = writeln!(s, "{ip}\t{}", names.join("\t"));
        }
    }
    let aliases: Vec<_> = entries
        .iter()
        .filter(|(a, _)| !a.is_unspecified())
        .collect();
    if !aliases.is_empty() {
        s.push_str("\n# Entries added by HostAliases.\n");
        for (ip, names) in aliases {
            if names.is_empty() {
                continue;
            }
            let _ = writeln!(s, "{ip}\t{}", names.join("\t"));
        }
    }
    Ok(s)
}

pub(crate) fn resolv_content(dns: &crate::DnsConfig) -> String {
    let mut s = String::new();
    for ns in &dns.nameservers {
        let _ = writeln!(s, "nameserver {ns}");
    }
    if !dns.searches.is_empty() {
        let _ = writeln!(s, "search {}", dns.searches.join(" "));
    }
    if !dns.options.is_empty() {
        let _ = writeln!(s, "options {}", dns.options.join(" "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_truncation() {
        let long = "a".repeat(62) + "-bc";
        assert_eq!(pod_hostname(&long, "x").expect("ok"), "a".repeat(62));
        assert_eq!(pod_hostname("", "web-0").expect("ok"), "web-0");
        assert!(pod_hostname("bad name", "x").is_err());
    }

    #[test]
    fn hosts_file() {
        let ip: IpAddr = "10.244.0.5".parse().expect("ip");
        let h = hosts_content(
            false,
            Some(ip),
            "web-0",
            &[
                (
                    "0.0.0.0".parse().expect("ip"),
                    vec!["web-0.web.default.svc.cluster.local".into()],
                ),
                (
                    "1.2.3.4".parse().expect("ip"),
                    vec!["foo".into(), "bar".into()],
                ),
            ],
        )
        .expect("hosts");
        assert!(h.starts_with(MANAGED_HEADER));
        assert!(h.contains("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.244.0.5\tweb-0.web.default.svc.cluster.local\tweb-0\n"));
        assert!(h.contains("# Entries added by HostAliases.\n1.2.3.4\tfoo\tbar\n"));
    }

    #[test]
    fn resolv_file() {
        let d = crate::DnsConfig {
            nameservers: vec!["10.96.0.10".into()],
            searches: vec![
                "default.svc.cluster.local".into(),
                "svc.cluster.local".into(),
            ],
            options: vec!["ndots:5".into()],
        };
        assert_eq!(
            resolv_content(&d),
            "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local\noptions ndots:5\n"
        );
    }
}
