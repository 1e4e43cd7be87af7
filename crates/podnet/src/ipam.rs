//! Pod IP allocation from the node's pod CIDR, in the on-disk format of the CNI `host-local`
//! plugin (one file per address holding "<id>\r\n<ifname>", `last_reserved_ip.0`, a `lock`
//! file taken with flock), so allocations made by either stay visible to the other.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use nix::fcntl::{Flock, FlockArg};

use crate::{io_err, NetError};

const LAST_RESERVED: &str = "last_reserved_ip.0";
const LOCK: &str = "lock";

pub(crate) struct Ipam {
    dir: PathBuf,
    net: IpNet,
    gateway: IpAddr,
}

impl Ipam {
    pub(crate) fn new(dir: PathBuf, net: IpNet, gateway: IpAddr) -> Ipam {
        Ipam { dir, net, gateway }
    }

    fn lock(&self) -> Result<Flock<std::fs::File>, NetError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(io_err(format!("creating {}", self.dir.display())))?;
        let p = self.dir.join(LOCK);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(format!("opening {}", p.display())))?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, source)| NetError::Sys {
            what: format!("locking {}", p.display()),
            source,
        })
    }

    /// The address reserved for `id`, reserving the next free one if it has none (round-robin
    /// after the last reservation, as host-local does).
    pub(crate) fn allocate(&self, id: &str, ifname: &str) -> Result<IpAddr, NetError> {
        let _lock = self.lock()?;
        if let Some(ip) = self.find(id)? {
            return Ok(ip);
        }
        let last = std::fs::read_to_string(self.dir.join(LAST_RESERVED))
            .ok()
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
            .filter(|l| self.net.contains(l));
        // Round-robin: the addresses after the last reservation, then those up to it. Lazy,
        // since an IPv6 range is far too large to list.
        let after = self
            .net
            .hosts()
            .skip_while(move |h| last.is_some_and(|l| *h <= l));
        let before = self
            .net
            .hosts()
            .take_while(move |h| last.is_some_and(|l| *h <= l));
        // IPv6 ranges list their subnet-router address (::0) among the hosts: skip it too.
        let network = self.net.network();
        for ip in after
            .chain(before)
            .filter(|ip| *ip != self.gateway && *ip != network)
        {
            let p = self.dir.join(ip.to_string());
            let mut f = match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&p)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(format!("creating {}", p.display()))(e)),
            };
            f.write_all(format!("{}\r\n{ifname}", id.trim()).as_bytes())
                .map_err(io_err(format!("writing {}", p.display())))?;
            std::fs::write(self.dir.join(LAST_RESERVED), ip.to_string())
                .map_err(io_err(format!("writing {LAST_RESERVED}")))?;
            return Ok(ip);
        }
        Err(NetError::Internal(format!(
            "no free address left in the pod range {} (one per pod; delete pods or give the node a larger range)",
            self.net
        )))
    }

    /// Releases whatever `id` holds (nothing is fine).
    pub(crate) fn release(&self, id: &str) -> Result<(), NetError> {
        let _lock = self.lock()?;
        while let Some(ip) = self.find(id)? {
            let p = self.dir.join(ip.to_string());
            std::fs::remove_file(&p).map_err(io_err(format!("removing {}", p.display())))?;
        }
        Ok(())
    }

    fn find(&self, id: &str) -> Result<Option<IpAddr>, NetError> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(format!("reading {}", self.dir.display()))(e)),
        };
        for ent in rd.flatten() {
            let name = ent.file_name();
            let Some(ip) = name.to_str().and_then(|n| n.parse::<IpAddr>().ok()) else {
                continue;
            };
            if owner(&ent.path()).as_deref() == Some(id.trim()) {
                return Ok(Some(ip));
            }
        }
        Ok(None)
    }
}

fn owner(p: &Path) -> Option<String> {
    let s = std::fs::read_to_string(p).ok()?;
    s.lines().next().map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_round_robin_skipping_the_gateway_and_releases() {
        let d = tempfile::tempdir().expect("tempdir");
        let net: IpNet = "10.9.0.0/29".parse().expect("cidr");
        let gw: IpAddr = "10.9.0.1".parse().expect("ip");
        let ipam = Ipam::new(d.path().join("minato"), net, gw);
        let a = ipam.allocate("pod-a", "eth0").expect("a");
        assert_eq!(a.to_string(), "10.9.0.2");
        // Asking again for the same id gives the same address.
        assert_eq!(ipam.allocate("pod-a", "eth0").expect("a again"), a);
        let b = ipam.allocate("pod-b", "eth0").expect("b");
        assert_eq!(b.to_string(), "10.9.0.3");
        let raw = std::fs::read_to_string(d.path().join("minato/10.9.0.3")).expect("file");
        assert_eq!(raw, "pod-b\r\neth0");
        ipam.release("pod-a").expect("release");
        assert!(!d.path().join("minato/10.9.0.2").exists());
        // Round-robin: the next pod does not reuse the address just freed.
        assert_eq!(
            ipam.allocate("pod-c", "eth0").expect("c").to_string(),
            "10.9.0.4"
        );
        for id in ["d", "e"] {
            ipam.allocate(id, "eth0").expect("fill");
        }
        // .2 .. .6 are taken (.7 is broadcast, .1 the gateway): .2 was freed and is reused.
        assert_eq!(
            ipam.allocate("g", "eth0").expect("g").to_string(),
            "10.9.0.2"
        );
        let err = ipam.allocate("h", "eth0").expect_err("full");
        assert!(err.to_string().contains("no free address"), "{err}");
    }

    #[test]
    fn ipv6_ranges_are_not_listed_whole() {
        let d = tempfile::tempdir().expect("tempdir");
        let net: IpNet = "fd00:10::/64".parse().expect("cidr");
        let gw: IpAddr = "fd00:10::1".parse().expect("ip");
        let ipam = Ipam::new(d.path().join("minato"), net, gw);
        assert_eq!(
            ipam.allocate("a", "eth0").expect("a").to_string(),
            "fd00:10::2"
        );
        assert_eq!(
            ipam.allocate("b", "eth0").expect("b").to_string(),
            "fd00:10::3"
        );
    }
}
