//! ImageLocality: prefer nodes that already have the pod's images (node.status.images),
//! scaled by how widely each image is spread, as upstream.

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

struct ImageState {
    /// The pod's images, each with the number of nodes having it.
    wanted: Vec<(String, usize)>,
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

    /// The nodes' images are counted as nodes come and go (see `Cluster::image_nodes`), so
    /// this costs the pod's images, not the cluster's nodes.
    fn pre_score(&self, pod: &PodInfo, cluster: &Cluster, _: &[&NodeInfo]) -> State {
        let wanted: Vec<(String, usize)> = pod_images(pod)
            .into_iter()
            .map(|w| {
                let n = cluster.image_nodes(&w);
                (w, n)
            })
            .collect();
        if wanted.iter().all(|(_, n)| *n == 0) {
            return None;
        }
        Some(Box::new(ImageState {
            wanted,
            total_nodes: cluster.num_nodes().max(1),
        }))
    }

    /// Each wanted image the node has adds its size (as this node reports it, like upstream's
    /// per-node image states) scaled by the share of nodes that have it.
    fn score(&self, s: &State, _pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(st) = state::<ImageState>(s) else {
            return 0;
        };
        let sum: i64 = st
            .wanted
            .iter()
            .filter_map(|(w, n)| node.images.get(w).map(|size| (*size, *n)))
            .map(|(size, n)| (size as f64 * (n as f64 / st.total_nodes as f64)) as i64)
            .sum();
        let max = MAX_CONTAINER_THRESHOLD * st.wanted.len().max(1) as i64;
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

    fn with_images(name: &str, images: serde_json::Value) -> k8s_openapi::api::core::v1::Node {
        let mut n = node(name, "1", "1Gi", json!({}));
        n.status.as_mut().unwrap().images = serde_json::from_value(images).ok();
        n
    }

    #[test]
    fn each_node_scores_its_own_size_spread_over_all_nodes() {
        // two of four nodes have `big` (reported under different names and sizes), one `small`
        let mut c = cluster(
            vec![
                with_images(
                    "a",
                    json!([{"names": ["big:1"], "sizeBytes": 800 * MB},
                    {"names": ["small"], "sizeBytes": 200 * MB}]),
                ),
                with_images(
                    "b",
                    json!([{"names": ["x/y", "big:1"], "sizeBytes": 400 * MB}]),
                ),
                node("c", "1", "1Gi", json!({})),
                node("d", "1", "1Gi", json!({})),
            ],
            vec![],
        );
        let mut p = pod("p", "0", "0", json!({}));
        let spec = p.spec.as_mut().unwrap();
        spec.containers[0].image = Some("big:1".into());
        let mut second = spec.containers[0].clone();
        second.image = Some("small:latest".into());
        spec.containers.push(second);
        let p = info(p);
        let score = |c: &Cluster, n: &str| {
            let st = ImageLocality.pre_score(&p, c, &[]);
            let (st_all, all) = ImageLocality.score_all(&p, c, &[c.node(n).unwrap()]);
            let one = ImageLocality.score(&st, &p, c.node(n).unwrap());
            assert_eq!((st.is_some(), vec![one]), (st_all.is_some(), all));
            one
        };
        let max = 2 * MAX_CONTAINER_THRESHOLD;
        let want = |sum: i64| 100 * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD);
        // a: 800MB * 2/4 + 200MB * 1/4; b: 400MB * 2/4
        assert_eq!(score(&c, "a"), want(400 * MB + 50 * MB));
        assert_eq!(score(&c, "b"), want(200 * MB));
        assert_eq!(score(&c, "c"), 0);
        // b leaves: big is on one node of three
        c.remove_node("b");
        assert_eq!(score(&c, "a"), want(800 * MB / 3 + 200 * MB / 3));
        // nobody has the images: no state, every node 0
        c.remove_node("a");
        assert!(ImageLocality.pre_score(&p, &c, &[]).is_none());
    }
}
