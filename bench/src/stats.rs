//! Latency summaries and the report each scenario fills in.

use std::time::Duration;

use serde_json::{json, Value};

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Clone, Copy, Default)]
pub struct Summary {
    pub n: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub min: Duration,
}

impl Summary {
    pub fn of(samples: &[Duration]) -> Summary {
        let mut s = samples.to_vec();
        s.sort();
        Summary {
            n: s.len(),
            p50: pct(&s, 50.0),
            p99: pct(&s, 99.0),
            max: s.last().copied().unwrap_or_default(),
            min: s.first().copied().unwrap_or_default(),
        }
    }

    pub fn json(&self) -> Value {
        json!({"n": self.n, "p50_ms": ms(self.p50), "p99_ms": ms(self.p99),
               "min_ms": ms(self.min), "max_ms": ms(self.max)})
    }

    pub fn text(&self) -> String {
        format!(
            "p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n={})",
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.n
        )
    }
}

/// A figure comparable across targets (for our/baseline ratios).
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

/// What one scenario produced against one target.
#[derive(Default)]
pub struct Section {
    pub lines: Vec<String>,
    pub json: serde_json::Map<String, Value>,
    pub figures: Vec<Figure>,
}

impl Section {
    pub fn line(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }

    pub fn set(&mut self, k: &str, v: Value) {
        self.json.insert(k.to_string(), v);
    }

    pub fn figure(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        self.figures.push(Figure {
            name: name.into(),
            value,
            unit,
        });
    }
}

pub fn mb(bytes: u64) -> f64 {
    (bytes as f64 / (1024.0 * 1024.0) * 100.0).round() / 100.0
}
