//! ImageLocality: prefer nodes that already have the pod's images (node.status.images),
//! scaled by how widely each image is spread, as upstream.

use std::collections::HashMap;

use crate::cache::{Cluster, NodeInfo, PodInfo};
use crate::framework::{state, ScorePlugin, State, MAX_NODE_SCORE};

pub struct ImageLocality;

const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// `nginx` → `nginx:latest`; tagged or digested names unchanged.
pub fn normalize_image(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

fn node_images(node: &NodeInfo) -> impl Iterator<Item = (String, i64)> + '_ {
    node.node
        .iter()
        .filter_map(|n| n.status.as_ref())
        .filter_map(|s| s.images.as_ref())
        .flatten()
        .flat_map(|img| {
            let size = img.size_bytes.unwrap_or(0);
            img.names
                .iter()
                .flatten()
                .map(move |n| (normalize_image(n), size))
        })
}

struct ImageState {
    /// image → (size, nodes having it)
    images: HashMap<String, (i64, usize)>,
    total_nodes: usize,
}

fn pod_images(pod: &PodInfo) -> Vec<String> {
    pod.pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter_map(|c| c.image.as_deref())
        .map(normalize_image)
        .collect()
}

impl ScorePlugin for ImageLocality {
    fn name(&self) -> &'static str {
        "ImageLocality"
    }

    fn weight(&self) -> i64 {
        1
    }

    fn pre_score(&self, pod: &PodInfo, cluster: &Cluster, _: &[&NodeInfo]) -> State {
        let wanted = pod_images(pod);
        let mut images: HashMap<String, (i64, usize)> = HashMap::new();
        let mut any = false;
        for node in cluster.nodes() {
            for (name, size) in node_images(node) {
                if wanted.contains(&name) {
                    any = true;
                    let e = images.entry(name).or_insert((size, 0));
                    e.1 += 1;
                }
            }
        }
        if !any {
            return None;
        }
        Some(Box::new(ImageState {
            images,
            total_nodes: cluster.num_nodes().max(1),
        }))
    }

    fn score(&self, s: &State, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(st) = state::<ImageState>(s) else {
            return 0;
        };
        let wanted = pod_images(pod);
        let have: HashMap<String, i64> = node_images(node).collect();
        let sum: i64 = wanted
            .iter()
            .filter(|w| have.contains_key(*w))
            .filter_map(|w| st.images.get(w))
            .map(|(size, n)| (*size as f64 * (*n as f64 / st.total_nodes as f64)) as i64)
            .sum();
        let max = MAX_CONTAINER_THRESHOLD * wanted.len().max(1) as i64;
        let sum = sum.clamp(MIN_THRESHOLD, max);
        MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use serde_json::json;

    #[test]
    fn prefers_nodes_with_the_image() {
        let mut with = node("a", "1", "1Gi", json!({}));
        with.status.as_mut().unwrap().images = Some(
            serde_json::from_value(json!([
                {"names": ["docker.io/library/big:1"], "sizeBytes": 600 * MB}
            ]))
            .unwrap(),
        );
        let c = cluster(vec![with, node("b", "1", "1Gi", json!({}))], vec![]);
        let mut p = pod("p", "0", "0", json!({}));
        p.spec.as_mut().unwrap().containers[0].image = Some("docker.io/library/big:1".into());
        let p = info(p);
        let st = ImageLocality.pre_score(&p, &c, &[]);
        let a = ImageLocality.score(&st, &p, &node_info(&c, "a"));
        let b = ImageLocality.score(&st, &p, &node_info(&c, "b"));
        // 600MB * 1/2 spread = 300MB → (300-23)/(1000-23)
        assert_eq!(
            a,
            100 * (300 * MB - MIN_THRESHOLD) / (1000 * MB - MIN_THRESHOLD)
        );
        assert_eq!(b, 0);
        assert_eq!(normalize_image("nginx"), "nginx:latest");
        assert_eq!(normalize_image("reg:5000/nginx"), "reg:5000/nginx:latest");
        assert_eq!(normalize_image("nginx@sha256:ab"), "nginx@sha256:ab");
    }
}
