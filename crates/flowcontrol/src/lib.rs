//! API Priority and Fairness (upstream's APF), for the API server.
//!
//! Every request is classified by the FlowSchemas (lowest matchingPrecedence first) into a
//! priority level and a flow; each limited level has a share of the server's concurrency
//! limit (`--max-requests-inflight` + `--max-mutating-requests-inflight`, 600 by default),
//! and requests beyond it wait in that level's fair queues or are rejected with 429.
//!
//! What differs from upstream: every request costs one seat (no work estimates for LISTs or
//! watch fan-out), and levels do not lend or borrow seats (`lendablePercent` and
//! `borrowingLimitPercent` are stored but not acted on).

pub mod bootstrap;
pub mod classify;
pub mod queueset;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::api::flowcontrol::v1::{FlowSchema, FlowSchemaSpec, PriorityLevelConfiguration};

pub use classify::{RequestDigest, ResourceInfo};
pub use queueset::{Level, Limits, Queuing, Rejection, Seat};

/// Server-wide settings.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Seats shared by all limited levels (upstream: max-requests-inflight +
    /// max-mutating-requests-inflight).
    pub server_concurrency_limit: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server_concurrency_limit: 600,
        }
    }
}

struct SchemaEntry {
    name: String,
    uid: String,
    spec: FlowSchemaSpec,
    level: String,
}

struct LevelEntry {
    uid: String,
    level: Arc<Level>,
}

#[derive(Default)]
struct Config {
    /// In matching order; only schemas whose level exists.
    schemas: Vec<SchemaEntry>,
    levels: HashMap<String, LevelEntry>,
}

/// The result of classifying a request.
#[derive(Clone)]
pub struct Classification {
    pub flow_schema: String,
    pub flow_schema_uid: String,
    pub priority_level: String,
    pub priority_level_uid: String,
    flow_hash: u64,
    level: Arc<Level>,
}

impl Classification {
    /// Waits for a seat in the request's priority level.
    pub async fn acquire(&self, wait_limit: Duration) -> Result<Seat, Rejection> {
        self.level.acquire(self.flow_hash, wait_limit).await
    }
}

/// Whether each FlowSchema's priority level exists (its `Dangling` condition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaStatus {
    pub name: String,
    pub level: String,
    pub dangling: bool,
}

/// Classifies requests and hands out seats; reconfigured whenever the objects change.
pub struct FlowControl {
    settings: Settings,
    config: RwLock<Arc<Config>>,
}

fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Option<T> {
    serde_json::from_value(v).ok()
}

/// FNV-1a over the schema name and the distinguisher: stable, cheap, and spreads flows well
/// enough for dealing hands of queues.
fn flow_hash(schema: &str, distinguisher: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in schema
        .bytes()
        .chain(std::iter::once(b','))
        .chain(distinguisher.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn limits_for(pl: &PriorityLevelConfiguration, server_cl: usize, share_sum: f64) -> Limits {
    let spec = pl.spec.as_ref();
    if spec.map(|s| s.type_.as_str()) == Some("Exempt") {
        return Limits {
            exempt: true,
            concurrency_limit: usize::MAX,
            queuing: None,
        };
    }
    let limited = spec.and_then(|s| s.limited.as_ref());
    let shares = limited
        .and_then(|l| l.nominal_concurrency_shares)
        .unwrap_or(30)
        .max(0);
    // Upstream rounds up, so the levels' limits may sum to a little over the server's.
    let concurrency_limit = if share_sum > 0.0 {
        (server_cl as f64 * f64::from(shares) / share_sum).ceil() as usize
    } else {
        server_cl
    };
    let response = limited.and_then(|l| l.limit_response.as_ref());
    let queuing = match response.map(|r| r.type_.as_str()) {
        Some("Reject") => None,
        _ => {
            let q = response.and_then(|r| r.queuing.as_ref());
            Some(Queuing {
                queues: q.and_then(|q| q.queues).unwrap_or(64).max(1) as usize,
                hand_size: q.and_then(|q| q.hand_size).unwrap_or(8).max(1) as usize,
                queue_length_limit: q.and_then(|q| q.queue_length_limit).unwrap_or(50).max(0)
                    as usize,
            })
        }
    };
    Limits {
        exempt: false,
        concurrency_limit,
        queuing,
    }
}

fn shares_of(pl: &PriorityLevelConfiguration) -> f64 {
    let spec = pl.spec.as_ref();
    let shares = match spec.map(|s| s.type_.as_str()) {
        Some("Exempt") => spec
            .and_then(|s| s.exempt.as_ref())
            .and_then(|e| e.nominal_concurrency_shares)
            .unwrap_or(0),
        _ => spec
            .and_then(|s| s.limited.as_ref())
            .and_then(|l| l.nominal_concurrency_shares)
            .unwrap_or(30),
    };
    f64::from(shares.max(0))
}

impl FlowControl {
    /// Starts with the bootstrap configuration (until the stored objects are loaded).
    pub fn new(settings: Settings) -> Self {
        let fc = FlowControl {
            settings,
            config: RwLock::new(Arc::new(Config::default())),
        };
        fc.configure(
            bootstrap::flow_schemas()
                .into_iter()
                .filter_map(parse)
                .collect(),
            bootstrap::priority_levels()
                .into_iter()
                .filter_map(parse)
                .collect(),
        );
        fc
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    fn current(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies the stored objects. Missing mandatory objects are imagined from the bootstrap
    /// set, as upstream does; schemas whose level is missing are skipped (dangling).
    pub fn configure(
        &self,
        mut schemas: Vec<FlowSchema>,
        mut levels: Vec<PriorityLevelConfiguration>,
    ) -> Vec<SchemaStatus> {
        for name in bootstrap::MANDATORY_LEVELS {
            if !levels
                .iter()
                .any(|l| l.metadata.name.as_deref() == Some(name))
            {
                levels.extend(
                    bootstrap::priority_levels()
                        .into_iter()
                        .filter_map(parse::<PriorityLevelConfiguration>)
                        .filter(|l| l.metadata.name.as_deref() == Some(name)),
                );
            }
        }
        let statuses: Vec<SchemaStatus> = schemas
            .iter()
            .map(|fs| {
                let level = fs
                    .spec
                    .as_ref()
                    .map(|s| s.priority_level_configuration.name.clone())
                    .unwrap_or_default();
                SchemaStatus {
                    name: fs.metadata.name.clone().unwrap_or_default(),
                    dangling: !levels
                        .iter()
                        .any(|l| l.metadata.name.as_deref() == Some(level.as_str())),
                    level,
                }
            })
            .collect();
        for name in bootstrap::MANDATORY_SCHEMAS {
            if !schemas
                .iter()
                .any(|s| s.metadata.name.as_deref() == Some(name))
            {
                schemas.extend(
                    bootstrap::flow_schemas()
                        .into_iter()
                        .filter_map(parse::<FlowSchema>)
                        .filter(|s| s.metadata.name.as_deref() == Some(name)),
                );
            }
        }

        let old = self.current();
        let share_sum: f64 = levels.iter().map(shares_of).sum();
        let server_cl = self.settings.server_concurrency_limit;
        let mut new_levels = HashMap::new();
        for pl in &levels {
            let Some(name) = pl.metadata.name.clone() else {
                continue;
            };
            let limits = limits_for(pl, server_cl, share_sum);
            // The same level keeps its seats and queues; new settings apply in place.
            let level = match old.levels.get(&name) {
                Some(e) => {
                    e.level.reconfigure(limits);
                    e.level.clone()
                }
                None => Level::new(limits),
            };
            new_levels.insert(
                name,
                LevelEntry {
                    uid: pl.metadata.uid.clone().unwrap_or_default(),
                    level,
                },
            );
        }
        let mut entries: Vec<(i32, SchemaEntry)> = schemas
            .into_iter()
            .filter_map(|fs| {
                let spec = fs.spec?;
                let level = spec.priority_level_configuration.name.clone();
                if !new_levels.contains_key(&level) {
                    return None;
                }
                Some((
                    spec.matching_precedence.unwrap_or(1000),
                    SchemaEntry {
                        name: fs.metadata.name.unwrap_or_default(),
                        uid: fs.metadata.uid.unwrap_or_default(),
                        spec,
                        level,
                    },
                ))
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        let config = Config {
            schemas: entries.into_iter().map(|(_, e)| e).collect(),
            levels: new_levels,
        };
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        statuses
    }

    /// The first matching schema; catch-all when nothing matches (a request with no
    /// authenticated/unauthenticated group).
    pub fn classify(&self, digest: &RequestDigest<'_>) -> Classification {
        let config = self.current();
        let entry = config
            .schemas
            .iter()
            .find(|s| classify::matches_schema(digest, &s.spec))
            .or_else(|| config.schemas.iter().find(|s| s.name == "catch-all"));
        let (schema, schema_uid, level_name, distinguisher) = match entry {
            Some(e) => (
                e.name.as_str(),
                e.uid.as_str(),
                e.level.as_str(),
                classify::distinguisher(&e.spec, digest),
            ),
            None => ("catch-all", "", "catch-all", digest.user),
        };
        let (level, level_uid) = match config.levels.get(level_name) {
            Some(l) => (l.level.clone(), l.uid.clone()),
            // Unreachable after configure() (catch-all is always imagined); stay safe.
            None => (
                Level::new(Limits {
                    exempt: false,
                    concurrency_limit: 1,
                    queuing: None,
                }),
                String::new(),
            ),
        };
        Classification {
            flow_schema: schema.to_string(),
            flow_schema_uid: schema_uid.to_string(),
            priority_level: level_name.to_string(),
            priority_level_uid: level_uid,
            flow_hash: flow_hash(schema, distinguisher),
            level,
        }
    }

    /// Upstream's `/debug/api_priority_and_fairness/dump_priority_levels` table.
    pub fn dump_priority_levels(&self) -> String {
        let config = self.current();
        let mut names: Vec<&String> = config.levels.keys().collect();
        names.sort();
        let mut rows = vec![[
            "PriorityLevelName".to_string(),
            "ActiveQueues".into(),
            "IsIdle".into(),
            "IsQuiescing".into(),
            "WaitingRequests".into(),
            "ExecutingRequests".into(),
            "DispatchedRequests".into(),
            "RejectedRequests".into(),
            "TimedoutRequests".into(),
            "CancelledRequests".into(),
        ]];
        for name in names {
            let s = config.levels[name].level.snapshot();
            rows.push([
                name.clone(),
                s.active_queues.to_string(),
                (s.waiting == 0 && s.executing == 0).to_string(),
                "false".into(),
                s.waiting.to_string(),
                s.executing.to_string(),
                s.counters.dispatched.to_string(),
                s.counters.rejected.to_string(),
                s.counters.timed_out.to_string(),
                s.counters.cancelled.to_string(),
            ]);
        }
        let widths: Vec<usize> = (0..10)
            .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in rows {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect();
            out.push_str(cells.join(", ").trim_end());
            out.push('\n');
        }
        out
    }

    /// Each level's seat limit (for tests and the debug dump).
    pub fn limits(&self, level: &str) -> Option<Limits> {
        self.current().levels.get(level).map(|l| l.level.limits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_levels_split_600_seats_by_share() {
        let fc = FlowControl::new(Settings::default());
        // Shares sum to 245 (exempt 0, catch-all 5, system 30, node-high 40,
        // leader-election 10, workload-high 40, workload-low 100, global-default 20).
        let seats = |l| fc.limits(l).map(|l| l.concurrency_limit);
        assert_eq!(seats("workload-low"), Some(245));
        assert_eq!(seats("global-default"), Some(49));
        assert_eq!(seats("catch-all"), Some(13));
        assert_eq!(seats("leader-election"), Some(25));
        assert!(fc.limits("exempt").is_some_and(|l| l.exempt));
        assert!(fc.limits("catch-all").is_some_and(|l| l.queuing.is_none()));
    }

    #[test]
    fn dangling_schemas_are_reported_and_skipped() {
        let fc = FlowControl::new(Settings::default());
        let mut schemas: Vec<FlowSchema> = bootstrap::flow_schemas()
            .into_iter()
            .filter_map(parse)
            .collect();
        let levels: Vec<PriorityLevelConfiguration> = bootstrap::priority_levels()
            .into_iter()
            .filter_map(parse)
            .filter(|l: &PriorityLevelConfiguration| {
                l.metadata.name.as_deref() != Some("global-default")
            })
            .collect();
        schemas.retain(|s| s.metadata.name.as_deref() != Some("catch-all"));
        let statuses = fc.configure(schemas, levels);
        let gd = statuses
            .iter()
            .find(|s| s.name == "global-default")
            .expect("status");
        assert!(gd.dangling);
        assert!(statuses.iter().filter(|s| s.dangling).count() == 1);
        // global-default is skipped, so a plain user lands in the imagined catch-all.
        let groups = vec!["system:authenticated".to_string()];
        let c = fc.classify(&RequestDigest {
            user: "alice",
            groups: &groups,
            verb: "get",
            resource: None,
            path: "/api",
        });
        assert_eq!(
            (c.flow_schema.as_str(), c.priority_level.as_str()),
            ("catch-all", "catch-all")
        );
    }
}
