//! Pod CIDRs per node and pod IP allocation inside them (pure, no I/O).

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::Error;

/// An IPv4 network in CIDR notation, e.g. `10.244.0.0/16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// The network with host bits cleared.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, Error> {
        if prefix > 32 {
            return Err(Error::Config(format!("prefix length {prefix} exceeds 32")));
        }
        let mask = Self::mask_of(prefix);
        Ok(Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }

    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }

    pub fn network(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Number of addresses in the network.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask_of(self.prefix) == u32::from(self.addr)
    }

    /// The `index`-th subnet of length `sub_prefix` inside this network.
    pub fn subnet(&self, sub_prefix: u8, index: u32) -> Result<Ipv4Cidr, Error> {
        if sub_prefix < self.prefix || sub_prefix > 32 {
            return Err(Error::Config(format!(
                "node mask /{sub_prefix} does not fit in {self}"
            )));
        }
        let count = 1u64 << (sub_prefix - self.prefix);
        if u64::from(index) >= count {
            return Err(Error::Config(format!(
                "{self} holds only {count} /{sub_prefix} node ranges, node index {index} is past them \
                 (widen the pod CIDR, e.g. 10.240.0.0/12)"
            )));
        }
        let step = 1u64 << (32 - u32::from(sub_prefix));
        let start = u64::from(u32::from(self.addr)) + u64::from(index) * step;
        Ipv4Cidr::new(Ipv4Addr::from(start as u32), sub_prefix)
    }

    /// The smallest network that holds `count` subnets of length `sub_prefix`, at this address.
    pub fn widened_for(&self, sub_prefix: u8, count: u32) -> Result<Ipv4Cidr, Error> {
        let bits = 32 - count.max(1).saturating_sub(1).leading_zeros();
        let needed = sub_prefix.checked_sub(bits as u8).ok_or_else(|| {
            Error::Config(format!("{count} /{sub_prefix} ranges do not fit in IPv4"))
        })?;
        Ipv4Cidr::new(self.addr, needed.min(self.prefix))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| Error::Config(format!("{s:?} is not a CIDR (a.b.c.d/len)")))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| Error::Config(format!("{s:?}: bad IPv4 address")))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| Error::Config(format!("{s:?}: bad prefix length")))?;
        Ipv4Cidr::new(addr, prefix)
    }
}

/// Hands out pod IPs from one node's range, as host-local IPAM does: the network address,
/// the gateway (`.1`) and the broadcast address are never given; allocation goes round-robin
/// from the last address handed out, so a freed address is reused once the range wraps.
#[derive(Clone, Debug)]
pub struct IpAllocator {
    cidr: Ipv4Cidr,
    first: u32,
    last: u32,
    next: u32,
    used: HashMap<Ipv4Addr, String>,
}

impl IpAllocator {
    pub fn new(cidr: Ipv4Cidr) -> Self {
        let net = u32::from(cidr.network());
        let size = cidr.size() as u32;
        let (first, last) = if size >= 4 {
            (net + 2, net + size - 2)
        } else {
            (net, net + size.saturating_sub(1))
        };
        Self {
            cidr,
            first,
            last,
            next: first,
            used: HashMap::new(),
        }
    }

    pub fn cidr(&self) -> Ipv4Cidr {
        self.cidr
    }

    /// Addresses that can be handed out in total.
    pub fn capacity(&self) -> usize {
        (self.last - self.first + 1) as usize
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }

    /// An address for `owner` (a pod UID); the same owner keeps the address it holds.
    pub fn allocate(&mut self, owner: &str) -> Option<Ipv4Addr> {
        if let Some((ip, _)) = self.used.iter().find(|(_, o)| o.as_str() == owner) {
            return Some(*ip);
        }
        for _ in 0..self.capacity() {
            let ip = Ipv4Addr::from(self.next);
            self.next = if self.next >= self.last {
                self.first
            } else {
                self.next + 1
            };
            if let std::collections::hash_map::Entry::Vacant(v) = self.used.entry(ip) {
                v.insert(owner.to_string());
                return Some(ip);
            }
        }
        None
    }

    /// Claims a specific address (one a pod already reports); false if it is outside the
    /// range or held by another owner.
    pub fn reserve(&mut self, ip: Ipv4Addr, owner: &str) -> bool {
        let n = u32::from(ip);
        if n < self.first || n > self.last {
            return false;
        }
        match self.used.get(&ip) {
            Some(o) => o == owner,
            None => {
                self.used.insert(ip, owner.to_string());
                true
            }
        }
    }

    /// Frees the address held by `owner`'s claim on `ip`.
    pub fn release(&mut self, ip: Ipv4Addr, owner: &str) {
        if self.used.get(&ip).is_some_and(|o| o == owner) {
            self.used.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ranges_follow_the_index() {
        let base: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
        assert_eq!(base.subnet(24, 0).unwrap().to_string(), "10.244.0.0/24");
        assert_eq!(base.subnet(24, 7).unwrap().to_string(), "10.244.7.0/24");
        assert_eq!(base.subnet(24, 255).unwrap().to_string(), "10.244.255.0/24");
        assert!(base.subnet(24, 256).is_err());
        // Host bits of the base are cleared.
        let odd: Ipv4Cidr = "10.244.3.9/16".parse().unwrap();
        assert_eq!(odd.to_string(), "10.244.0.0/16");
        assert!("10.244.0.0".parse::<Ipv4Cidr>().is_err());
        assert!("10.244.0.0/33".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn widening_fits_the_node_count() {
        let base: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
        assert_eq!(base.widened_for(24, 256).unwrap(), base);
        let w = base.widened_for(24, 1000).unwrap();
        assert_eq!(w.to_string(), "10.244.0.0/14");
        assert_eq!(w.subnet(24, 999).unwrap().to_string(), "10.247.231.0/24");
        assert!(w.subnet(24, 1024).is_err());
    }

    #[test]
    fn allocation_skips_network_gateway_broadcast_and_is_unique() {
        let mut a = IpAllocator::new("10.244.3.0/24".parse().unwrap());
        assert_eq!(a.capacity(), 253);
        let mut seen = std::collections::HashSet::new();
        for i in 0..253 {
            let ip = a.allocate(&format!("pod-{i}")).expect("address");
            assert!(a.cidr().contains(ip));
            assert_ne!(ip.octets()[3], 0);
            assert_ne!(ip.octets()[3], 1);
            assert_ne!(ip.octets()[3], 255);
            assert!(seen.insert(ip), "duplicate {ip}");
        }
        assert_eq!(a.allocate("one-too-many"), None);
        // A freed address is handed out again.
        let freed = Ipv4Addr::new(10, 244, 3, 77);
        a.release(freed, "pod-75");
        assert_eq!(a.allocate("late"), Some(freed));
    }

    #[test]
    fn same_owner_keeps_its_address_and_reserve_respects_owners() {
        let mut a = IpAllocator::new("10.244.0.0/24".parse().unwrap());
        let ip = a.allocate("u1").unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 244, 0, 2));
        assert_eq!(a.allocate("u1"), Some(ip));
        assert!(!a.reserve(ip, "u2"));
        assert!(a.reserve(ip, "u1"));
        assert!(a.reserve(Ipv4Addr::new(10, 244, 0, 9), "u3"));
        assert!(!a.reserve(Ipv4Addr::new(10, 244, 1, 9), "u4"));
        assert!(!a.reserve(Ipv4Addr::new(10, 244, 0, 1), "u4"));
        // Release by a non-owner does nothing.
        a.release(ip, "u2");
        assert_eq!(a.in_use(), 2);
        a.release(ip, "u1");
        assert_eq!(a.in_use(), 1);
        // Round robin: next address after the last handed out, not the freed one.
        assert_eq!(a.allocate("u5"), Some(Ipv4Addr::new(10, 244, 0, 3)));
    }
}
