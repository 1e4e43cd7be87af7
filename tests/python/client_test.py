"""Drives a minato server with the official Python client: create, list, watch, patch, delete.

Usage: client_test.py KUBECONFIG. Prints one line per check; exits non-zero on the first failure.
"""
import sys
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
apps = client.AppsV1Api()
ns = "pyclient"

core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
print("namespace created")

cm = core.create_namespaced_config_map(ns, client.V1ConfigMap(
    metadata=client.V1ObjectMeta(name="pycm", labels={"app": "py"}), data={"k": "v"}))
assert cm.metadata.resource_version, "created object has a resourceVersion"
print("configmap created")

items = core.list_namespaced_config_map(ns, label_selector="app=py").items
assert [i.metadata.name for i in items] == ["pycm"], items
print("list with label selector")

dep = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="web"),
    spec=client.V1DeploymentSpec(
        replicas=2,
        selector=client.V1LabelSelector(match_labels={"app": "web"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "web"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx:1.25")]))))
apps.create_namespaced_deployment(ns, dep)
apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": 3}})
apps.patch_namespaced_deployment("web", ns, [{"op": "replace", "path": "/spec/replicas", "value": 4}])
apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 5}})
assert apps.read_namespaced_deployment("web", ns).spec.replicas == 5
print("patch (strategic, json, scale)")

ssa = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pyssa", "namespace": ns}, "data": {"a": "1"}}
core.patch_namespaced_config_map("pyssa", ns, ssa, field_manager="py", _content_type="application/apply-patch+yaml")
assert core.read_namespaced_config_map("pyssa", ns).data == {"a": "1"}
print("server-side apply")

try:
    apps.read_namespaced_deployment("nope", ns)
    raise AssertionError("expected 404")
except ApiException as e:
    assert e.status == 404, e.status
print("404 as ApiException")

# Watch: a change made while watching arrives.
seen = []
def change():
    time.sleep(1)
    core.patch_namespaced_config_map("pycm", ns, {"data": {"k": "v2"}})
threading.Thread(target=change).start()
w = watch.Watch()
for ev in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=5):
    seen.append((ev["type"], ev["object"].metadata.name, (ev["object"].data or {}).get("k")))
    if ev["type"] == "MODIFIED":
        w.stop()
assert ("MODIFIED", "pycm", "v2") in seen, seen
print("watch")

core.delete_namespaced_config_map("pycm", ns)
try:
    core.read_namespaced_config_map("pycm", ns)
    raise AssertionError("expected 404 after delete")
except ApiException as e:
    assert e.status == 404
print("delete")
print("ALL OK")
