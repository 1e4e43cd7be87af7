//! Hard eviction thresholds, as the kubelet's `--eviction-hard`: a comma-separated list of
//! `signal<quantity` or `signal<percent%`, e.g. `memory.available<100Mi,nodefs.available<10%`.
//! Without the flag the kubelet's Linux defaults apply; with it, signals it does not name are
//! not watched (as upstream without mergeDefaultEvictionSettings).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// What the eviction manager watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    MemoryAvailable,
    NodefsAvailable,
    NodefsInodesFree,
    ImagefsAvailable,
    ImagefsInodesFree,
    PidAvailable,
}

impl Signal {
    const ALL: [Signal; 6] = [
        Signal::MemoryAvailable,
        Signal::NodefsAvailable,
        Signal::NodefsInodesFree,
        Signal::ImagefsAvailable,
        Signal::ImagefsInodesFree,
        Signal::PidAvailable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory.available",
            Signal::NodefsAvailable => "nodefs.available",
            Signal::NodefsInodesFree => "nodefs.inodesFree",
            Signal::ImagefsAvailable => "imagefs.available",
            Signal::ImagefsInodesFree => "imagefs.inodesFree",
            Signal::PidAvailable => "pid.available",
        }
    }

    /// The resource the node is short of when this signal is met (the word eviction messages
    /// and the node condition use).
    pub fn resource(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory",
            Signal::NodefsAvailable | Signal::ImagefsAvailable => "ephemeral-storage",
            Signal::NodefsInodesFree | Signal::ImagefsInodesFree => "inodes",
            Signal::PidAvailable => "pids",
        }
    }

    pub fn is_disk(self) -> bool {
        !matches!(self, Signal::MemoryAvailable | Signal::PidAvailable)
    }
}

/// A threshold's value: an absolute amount (bytes, inodes or pids) or a share of capacity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    Absolute(u64),
    Percent(f64),
}

impl Amount {
    /// The absolute amount for a resource of `capacity`.
    pub fn of(self, capacity: u64) -> u64 {
        match self {
            Amount::Absolute(v) => v,
            Amount::Percent(p) => (capacity as f64 * p / 100.0) as u64,
        }
    }
}

/// The set of hard thresholds in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds(Vec<(Signal, Amount)>);

impl Default for Thresholds {
    /// The kubelet's defaults on Linux.
    fn default() -> Self {
        Thresholds(vec![
            (Signal::MemoryAvailable, Amount::Absolute(100 * 1024 * 1024)),
            (Signal::NodefsAvailable, Amount::Percent(10.0)),
            (Signal::NodefsInodesFree, Amount::Percent(5.0)),
            (Signal::ImagefsAvailable, Amount::Percent(15.0)),
            (Signal::ImagefsInodesFree, Amount::Percent(5.0)),
        ])
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ThresholdError {
    #[error("eviction threshold {0:?} is not of the form <signal><<value>, e.g. memory.available<100Mi or nodefs.available<10%")]
    Syntax(String),
    #[error("unknown eviction signal {0:?} (known: memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree, pid.available)")]
    Signal(String),
    #[error("eviction threshold {0:?} needs a non-negative quantity (e.g. 100Mi) or a percentage up to 100%")]
    Value(String),
    #[error("eviction signal {0} is given twice")]
    Duplicate(&'static str),
}

impl FromStr for Thresholds {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out: Vec<(Signal, Amount)> = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item
                .split_once('<')
                .ok_or_else(|| ThresholdError::Syntax(item.to_string()))?;
            let signal = Signal::ALL
                .into_iter()
                .find(|sig| sig.name() == name.trim())
                .ok_or_else(|| ThresholdError::Signal(name.trim().to_string()))?;
            let value = value.trim();
            let amount = if let Some(p) = value.strip_suffix('%') {
                let p: f64 = p
                    .parse()
                    .map_err(|_| ThresholdError::Value(item.to_string()))?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(ThresholdError::Value(item.to_string()));
                }
                Amount::Percent(p)
            } else {
                // parse_milli gives thousandths; round up to whole units.
                let milli = minato_scheduler::resources::parse_milli(value)
                    .filter(|m| *m >= 0)
                    .ok_or_else(|| ThresholdError::Value(item.to_string()))?;
                Amount::Absolute(u64::try_from((milli + 999) / 1000).unwrap_or(u64::MAX))
            };
            if out.iter().any(|(s, _)| *s == signal) {
                return Err(ThresholdError::Duplicate(signal.name()));
            }
            out.push((signal, amount));
        }
        Ok(Thresholds(out))
    }
}

impl fmt::Display for Thresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|(s, a)| match a {
                Amount::Absolute(v) => format!("{}<{v}", s.name()),
                Amount::Percent(p) => format!("{}<{p}%", s.name()),
            })
            .collect();
        f.write_str(&items.join(","))
    }
}

/// One signal's reading: how much there is in all and how much is left.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reading {
    pub capacity: u64,
    pub available: u64,
}

/// The readings of every signal at one moment. A capacity of 0 means "could not read": such a
/// signal is never met.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Observations {
    pub memory: Reading,
    pub nodefs: Reading,
    pub nodefs_inodes: Reading,
    pub imagefs: Reading,
    pub imagefs_inodes: Reading,
    pub pids: Reading,
}

impl Observations {
    pub fn get(&self, signal: Signal) -> Reading {
        match signal {
            Signal::MemoryAvailable => self.memory,
            Signal::NodefsAvailable => self.nodefs,
            Signal::NodefsInodesFree => self.nodefs_inodes,
            Signal::ImagefsAvailable => self.imagefs,
            Signal::ImagefsInodesFree => self.imagefs_inodes,
            Signal::PidAvailable => self.pids,
        }
    }

    /// Reads the host: memory from /proc/meminfo, the node filesystem at `nodefs`, the image
    /// filesystem at `imagefs`, pids against kernel.pid_max.
    pub fn read(nodefs: &Path, imagefs: &Path) -> Observations {
        let (mem_total, mem_available) = crate::host::meminfo();
        let fs = |p: &Path| {
            let u = crate::host::filesystem_usage(p);
            (
                Reading {
                    capacity: u.bytes_total,
                    available: u.bytes_available,
                },
                Reading {
                    capacity: u.inodes_total,
                    available: u.inodes_available,
                },
            )
        };
        let (nodefs_r, nodefs_inodes) = fs(nodefs);
        let (imagefs_r, imagefs_inodes) = fs(imagefs);
        let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let procs = std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                    })
                    .count() as u64
            })
            .unwrap_or(0);
        Observations {
            memory: Reading {
                capacity: mem_total,
                available: mem_available,
            },
            nodefs: nodefs_r,
            nodefs_inodes,
            imagefs: imagefs_r,
            imagefs_inodes,
            pids: Reading {
                capacity: pid_max,
                available: pid_max.saturating_sub(procs),
            },
        }
    }
}

/// A threshold that is met now, with what the eviction message reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Met {
    pub signal: Signal,
    pub threshold: u64,
    pub available: u64,
}

impl Thresholds {
    /// The thresholds crossed by `obs`.
    pub fn met(&self, obs: &Observations) -> Vec<Met> {
        self.0
            .iter()
            .filter_map(|(signal, amount)| {
                let r = obs.get(*signal);
                let threshold = amount.of(r.capacity);
                (r.capacity > 0 && r.available < threshold).then_some(Met {
                    signal: *signal,
                    threshold,
                    available: r.available,
                })
            })
            .collect()
    }
}

/// The node conditions that follow from the thresholds met.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
    pub pid: bool,
}

impl Pressure {
    pub fn from_met(met: &[Met]) -> Pressure {
        Pressure {
            memory: met.iter().any(|m| m.signal == Signal::MemoryAvailable),
            disk: met.iter().any(|m| m.signal.is_disk()),
            pid: met.iter().any(|m| m.signal == Signal::PidAvailable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quantities_and_percentages() {
        let t: Thresholds = "memory.available<100Mi, nodefs.available<10%,pid.available<1k"
            .parse()
            .unwrap();
        assert_eq!(
            t.0,
            vec![
                (Signal::MemoryAvailable, Amount::Absolute(100 << 20)),
                (Signal::NodefsAvailable, Amount::Percent(10.0)),
                (Signal::PidAvailable, Amount::Absolute(1000)),
            ]
        );
        assert_eq!(
            t.to_string(),
            "memory.available<104857600,nodefs.available<10%,pid.available<1000"
        );
        assert_eq!("".parse::<Thresholds>().unwrap().0, vec![]);
    }

    #[test]
    fn rejects_what_the_kubelet_rejects() {
        assert!(matches!(
            "memory.available>1Gi".parse::<Thresholds>(),
            Err(ThresholdError::Syntax(_))
        ));
        assert!(matches!(
            "disk.available<1Gi".parse::<Thresholds>(),
            Err(ThresholdError::Signal(_))
        ));
        assert!(matches!(
            "nodefs.available<120%".parse::<Thresholds>(),
            Err(ThresholdError::Value(_))
        ));
        assert!(matches!(
            "nodefs.available<lots".parse::<Thresholds>(),
            Err(ThresholdError::Value(_))
        ));
        assert!(matches!(
            "memory.available<1Gi,memory.available<2Gi".parse::<Thresholds>(),
            Err(ThresholdError::Duplicate("memory.available"))
        ));
    }

    #[test]
    fn met_thresholds_make_the_node_conditions() {
        let obs = Observations {
            memory: Reading {
                capacity: 1 << 30,
                available: 50 << 20,
            },
            nodefs: Reading {
                capacity: 100,
                available: 12,
            },
            imagefs: Reading {
                capacity: 100,
                available: 12,
            },
            ..Default::default()
        };
        let met = Thresholds::default().met(&obs);
        let signals: Vec<Signal> = met.iter().map(|m| m.signal).collect();
        // imagefs<15% is met, nodefs<10% is not; unread signals (capacity 0) never are.
        assert_eq!(
            signals,
            vec![Signal::MemoryAvailable, Signal::ImagefsAvailable]
        );
        assert_eq!(
            Pressure::from_met(&met),
            Pressure {
                memory: true,
                disk: true,
                pid: false
            }
        );
        let relaxed: Thresholds = "nodefs.available<1".parse().unwrap();
        assert_eq!(Pressure::from_met(&relaxed.met(&obs)), Pressure::default());
    }
}
