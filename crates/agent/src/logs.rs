//! Reading container log files (the runtime writes them in the CRI format).

use std::path::Path;

/// The last `lines` lines of a container's log as plain text, at most `max_bytes` (the
/// FallbackToLogsOnError termination message).
pub fn tail_text(path: &Path, lines: usize, max_bytes: usize) -> Option<String> {
    let raw = std::fs::read(path).ok()?;
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut joining = false;
    for line in raw.split(|b| *b == b'\n') {
        let Some(rec) = minato_runtime::logs::parse_line(line) else {
            continue;
        };
        match out.last_mut() {
            // A partial record continues in the next one.
            Some(last) if joining => last.extend_from_slice(&rec.content),
            _ => out.push(rec.content.clone()),
        }
        joining = rec.partial;
    }
    let start = out.len().saturating_sub(lines);
    let joined = out[start..].join(&b'\n');
    let cut = joined.len().saturating_sub(max_bytes);
    let text = String::from_utf8_lossy(&joined[cut..]).into_owned();
    (!text.is_empty()).then_some(text)
}
