//! On-disk container records: static metadata, start and exit files, liveness checks.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::{ContainerRecord, ContainerSpec, ContainerState, IoContext, RuntimeError};

pub const RECORD_FILE: &str = "record.json";
pub const STARTED_FILE: &str = "started.json";
pub const STATUS_FILE: &str = "status.json";
pub const SHIM_PID_FILE: &str = "shim.pid";

/// Exit code reported when the real one is unknown (the shim died first).
pub const UNKNOWN_EXIT_CODE: i32 = 255;

/// What is known at create time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaticRecord {
    pub id: String,
    pub pod_uid: String,
    pub container_name: String,
    pub attempt: u32,
    pub image: String,
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    pub created_at: SystemTime,
    pub log_path: PathBuf,
    pub cgroup_path: String,
    /// The image's STOPSIGNAL (records of older agents have none: SIGTERM).
    #[serde(default)]
    pub stop_signal: Option<i32>,
}

impl StaticRecord {
    pub fn from_spec(s: &ContainerSpec, created_at: SystemTime) -> Self {
        StaticRecord {
            id: s.id.clone(),
            pod_uid: s.pod_uid.clone(),
            container_name: s.container_name.clone(),
            attempt: s.attempt,
            image: s.image.clone(),
            image_id: s.image_id.clone(),
            labels: s.labels.clone(),
            created_at,
            log_path: s.log_path.clone(),
            cgroup_path: s.cgroup_path.clone(),
            stop_signal: s.stop_signal,
        }
    }
}

/// Written by the shim once `runc start` succeeded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Started {
    pub pid: u32,
    pub started_at: SystemTime,
    /// Field 22 of /proc/<pid>/stat, to tell the process from a later one with the same pid.
    pub pid_start_time: u64,
}

/// Written by the shim when the init process was reaped (or the start failed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub finished_at: SystemTime,
    pub oom_killed: bool,
    /// Set when the container could not be created/started.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimPid {
    pub pid: u32,
    pub start_time: u64,
}

/// The files the shim writes while the container lives.
#[derive(Debug, Default)]
pub struct Dynamic {
    pub started: Option<Started>,
    pub status: Option<Status>,
    pub shim: Option<ShimPid>,
}

impl Dynamic {
    pub fn shim_alive(&self) -> bool {
        match &self.shim {
            Some(s) => same_process(s.pid, s.start_time),
            // The shim writes its pid first thing; before that assume it is coming up.
            None => true,
        }
    }
}

pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), RuntimeError> {
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| RuntimeError::Other(format!("encoding {}: {e}", path.display())))?;
    write_atomic(path, &data)
}

/// Write to a temp file in the same dir, fsync, rename: readers see old or new, never half.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), RuntimeError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .ctx(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("renaming to {}", path.display()))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, RuntimeError> {
    match std::fs::read(path) {
        Ok(data) => serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| RuntimeError::Other(format!("corrupt {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RuntimeError::io(format!("reading {}", path.display()), e)),
    }
}

pub fn read_static(bundle: &Path) -> Result<StaticRecord, RuntimeError> {
    read_json(&bundle.join(RECORD_FILE))?.ok_or_else(|| {
        RuntimeError::NotFound(
            bundle
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    })
}

pub fn read_dynamic(bundle: &Path) -> Result<Dynamic, RuntimeError> {
    Ok(Dynamic {
        started: read_json(&bundle.join(STARTED_FILE))?,
        status: read_json(&bundle.join(STATUS_FILE))?,
        shim: read_json(&bundle.join(SHIM_PID_FILE))?,
    })
}

/// Start time (clock ticks since boot) and state letter of a process, from /proc/<pid>/stat.
pub fn proc_stat(pid: u32) -> Option<(u64, char)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parens: parse after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); starttime is field 22.
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

/// True if `pid` is alive (not a zombie) and started at `start_time`.
pub fn same_process(pid: u32, start_time: u64) -> bool {
    matches!(proc_stat(pid), Some((st, state)) if st == start_time && state != 'Z' && state != 'X')
}

/// Loads the record of a bundle dir with its current state; `None` if it has no record
/// (e.g. half-created by a crashed agent).
pub fn load(bundle: &Path) -> Result<Option<ContainerRecord>, RuntimeError> {
    let st = match read_json::<StaticRecord>(&bundle.join(RECORD_FILE))? {
        Some(s) => s,
        None => return Ok(None),
    };
    let mut dynamic = read_dynamic(bundle)?;
    let (mut state, mut message) = derive_state(&dynamic);
    // Init gone but shim alive: the shim is about to write status.json. Give it a moment
    // so callers do not see "Running" for a dead process.
    if message.as_deref() == Some(SHIM_FINISHING) {
        let mut waited = Duration::ZERO;
        while waited < Duration::from_millis(500) {
            std::thread::sleep(Duration::from_millis(10));
            waited += Duration::from_millis(10);
            dynamic = read_dynamic(bundle)?;
            if dynamic.status.is_some() || !dynamic.shim_alive() {
                break;
            }
        }
        (state, message) = derive_state(&dynamic);
        if message.as_deref() == Some(SHIM_FINISHING) {
            // Still not written: report the last known running state.
            let started = dynamic.started.as_ref();
            state = ContainerState::Running {
                pid: started.map(|s| s.pid).unwrap_or(0),
                started_at: started.map(|s| s.started_at).unwrap_or(st.created_at),
            };
            message = None;
        }
    }
    if let (
        ContainerState::Exited {
            exit_code,
            signal,
            finished_at,
            oom_killed,
            ..
        },
        None,
    ) = (&state, &dynamic.status)
    {
        // The shim is gone without a status: persist the verdict so later reads agree
        // (stable finished_at) and a restarted agent does not re-derive it.
        let status = Status {
            exit_code: *exit_code,
            signal: *signal,
            finished_at: *finished_at,
            oom_killed: *oom_killed,
            error: message.clone(),
        };
        if let Err(e) = write_json_atomic(&bundle.join(STATUS_FILE), &status) {
            tracing::warn!(bundle = %bundle.display(), error = %e, "cannot persist derived exit status");
        }
    }
    Ok(Some(ContainerRecord {
        id: st.id,
        pod_uid: st.pod_uid,
        container_name: st.container_name,
        attempt: st.attempt,
        image: st.image,
        image_id: st.image_id,
        labels: st.labels,
        created_at: st.created_at,
        log_path: st.log_path,
        cgroup_path: st.cgroup_path,
        stop_signal: st.stop_signal,
        state,
        message,
    }))
}

const SHIM_FINISHING: &str = "\0shim-finishing";

fn derive_state(d: &Dynamic) -> (ContainerState, Option<String>) {
    if let Some(s) = &d.status {
        return (
            ContainerState::Exited {
                exit_code: s.exit_code,
                signal: s.signal,
                started_at: d.started.as_ref().map(|s| s.started_at),
                finished_at: s.finished_at,
                oom_killed: s.oom_killed,
            },
            s.error.clone(),
        );
    }
    if let Some(started) = &d.started {
        if same_process(started.pid, started.pid_start_time) {
            return (
                ContainerState::Running {
                    pid: started.pid,
                    started_at: started.started_at,
                },
                None,
            );
        }
        if d.shim_alive() {
            return (ContainerState::Created, Some(SHIM_FINISHING.to_string()));
        }
        return (
            ContainerState::Exited {
                exit_code: UNKNOWN_EXIT_CODE,
                signal: None,
                started_at: Some(started.started_at),
                finished_at: SystemTime::now(),
                oom_killed: false,
            },
            Some("the container's shim died before recording its exit status; the exit code is unknown".into()),
        );
    }
    if d.shim_alive() {
        return (ContainerState::Created, None);
    }
    (
        ContainerState::Exited {
            exit_code: UNKNOWN_EXIT_CODE,
            signal: None,
            started_at: None,
            finished_at: SystemTime::now(),
            oom_killed: false,
        },
        Some("the container's shim died before the container started".into()),
    )
}
