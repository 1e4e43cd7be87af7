//! The node agent runs real pods: images from a loopback registry (Debian's docker-registry)
//! or imported archives, containers by crun or runc, pod network on a bridge of the test's own,
//! driven with the real kubectl through the API server. Needs root (CI runs as root).

use std::process::Command;
use std::time::Duration;

use minato_e2e::{busybox_image, stdout, wait_for, AgentServer, Registry, Server};

fn jsonpath(s: &Server, obj: &str, path: &str) -> String {
    stdout(&s.kubectl(&["get", obj, "-o", &format!("jsonpath={path}")]))
}

fn wait_ready(s: &Server, selector: &str, count: usize) -> Vec<String> {
    wait_for(
        Duration::from_secs(120),
        &format!("{count} ready pods {selector}"),
        || {
            let out = stdout(&s.kubectl(&[
            "get", "pods", "-l", selector, "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
        ]));
            let ready: Vec<String> = out
                .lines()
                .filter(|l| l.ends_with(" True"))
                .map(|l| l.split(' ').next().unwrap_or("").to_string())
                .collect();
            (ready.len() == count).then_some(ready)
        },
    )
}

/// busybox wget from the host with a hard timeout (busybox 1.35's `wget -T` crashes).
fn http_get(url: &str) -> String {
    let out = Command::new("timeout")
        .args(["5", "busybox", "wget", "-q", "-O-", url])
        .output()
        .expect("busybox");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn deployment_from_a_registry_serves_logs_exec_and_port_forward() {
    let work = tempfile::tempdir().unwrap();
    let (layout, _) = busybox_image(work.path());
    let registry = Registry::start(None);
    registry.push(&layout, "1.0", "busybox:1.0", None);
    let agent = AgentServer::start(&[], None);
    let s = agent.s();
    let image = format!("{}/busybox:1.0", registry.addr);
    s.apply(&format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: web-config}}
data: {{greeting: hello, page.html: version-1}}
---
apiVersion: v1
kind: Secret
metadata: {{name: db}}
stringData: {{password: s3cret}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      securityContext:
        seccompProfile: {{type: RuntimeDefault}}
      containers:
      - name: httpd
        image: {image}
        command: ["sh", "-c", "mkdir -p /www && echo $(GREETING) from $(POD_NAME) > /www/index.html && echo started $(POD_NAME) && exec httpd -f -p 8080 -h /www"]
        env:
        - {{name: GREETING, valueFrom: {{configMapKeyRef: {{name: web-config, key: greeting}}}}}}
        - {{name: PASSWORD, valueFrom: {{secretKeyRef: {{name: db, key: password}}}}}}
        - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
        - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
        readinessProbe:
          httpGet: {{path: /, port: 8080}}
          periodSeconds: 1
        volumeMounts:
        - {{name: config, mountPath: /config}}
      volumes:
      - name: config
        configMap: {{name: web-config}}
"#
    ));
    let pods = wait_ready(s, "app=web", 2);
    let pod = &pods[0];
    // The pod answers on its own IP, from the host.
    let ip = jsonpath(s, &format!("pod/{pod}"), "{.status.podIP}");
    assert!(ip.starts_with("10."), "pod IP {ip}");
    assert_eq!(
        http_get(&format!("http://{ip}:8080/")).trim(),
        format!("hello from {pod}")
    );
    // Env from ConfigMap, Secret and the downward API.
    let env = s.ok(&["exec", pod, "--", "env"]);
    assert!(env.contains("PASSWORD=s3cret"), "{env}");
    assert!(env.contains(&format!("POD_IP={ip}")), "{env}");
    assert_eq!(s.ok(&["exec", pod, "--", "hostname"]).trim(), pod.as_str());
    // The pod's RuntimeDefault seccomp profile confines its processes (exec'd ones too).
    let status = s.ok(&["exec", pod, "--", "cat", "/proc/self/status"]);
    assert!(status.contains("Seccomp:\t2"), "{status}");
    // Exit codes pass through kubectl exec.
    let out = s.kubectl(&["exec", pod, "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    // Logs.
    assert!(s.ok(&["logs", pod]).contains(&format!("started {pod}")));
    assert!(s.ok(&["logs", "--timestamps", pod]).contains("Z started"));
    // logs -f follows new output: httpd logs nothing, so write to the container's stdout
    // through its PID 1's file descriptor.
    let mut follow = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args(["logs", "-f", pod])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut follow_out = std::io::BufReader::new(follow.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut follow_out, &mut first).unwrap();
    s.ok(&[
        "exec",
        pod,
        "--",
        "sh",
        "-c",
        "echo followed-line > /proc/1/fd/1",
    ]);
    let mut next = String::new();
    std::io::BufRead::read_line(&mut follow_out, &mut next).unwrap();
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(next.trim(), "followed-line", "first line was {first:?}");
    // port-forward from the host to the pod.
    let mut pf = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args(["port-forward", &format!("pod/{pod}"), "0:8080"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut reader = std::io::BufReader::new(pf.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    // Keep draining kubectl's stdout: it reports each connection there and dies on EPIPE.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_default()
        .to_string();
    let via_pf = http_get(&format!("http://127.0.0.1:{port}/"));
    let _ = pf.kill();
    let _ = pf.wait();
    assert_eq!(
        via_pf.trim(),
        format!("hello from {pod}"),
        "port-forward line: {line}"
    );
    // A ConfigMap edit reaches the mounted file (within a minute, atomically).
    assert_eq!(
        s.ok(&["exec", pod, "--", "cat", "/config/page.html"]),
        "version-1"
    );
    s.ok(&[
        "patch",
        "configmap",
        "web-config",
        "-p",
        r#"{"data":{"page.html":"version-2"}}"#,
    ]);
    wait_for(
        Duration::from_secs(70),
        "configmap update in the volume",
        || (s.ok(&["exec", pod, "--", "cat", "/config/page.html"]) == "version-2").then_some(()),
    );
    // Deleting a pod: the ReplicaSet replaces it; the old one is gone.
    s.ok(&["delete", "pod", pod, "--grace-period=1"]);
    wait_ready(s, "app=web", 2);
    assert!(!s.ok(&["get", "pods", "-o", "name"]).contains(pod.as_str()));
    // Status as kubectl shows it.
    let statuses = jsonpath(
        s,
        "pods",
        "{.items[*].status.qosClass} {.items[*].status.containerStatuses[*].image}",
    );
    assert!(
        statuses.contains("BestEffort") && statuses.contains(&image),
        "{statuses}"
    );
}

#[test]
fn restarts_back_off_oom_and_pull_errors() {
    let work = tempfile::tempdir().unwrap();
    let (_, archive) = busybox_image(work.path());
    let registry = Registry::start(None);
    let agent = AgentServer::start(&[&archive], None);
    let s = agent.s();
    s.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: crasher}}
spec:
  containers:
  - {{name: c, image: localhost/busybox:1.0, imagePullPolicy: Never, command: ["sh", "-c", "echo dying; exit 2"]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: unhealthy}}
spec:
  containers:
  - name: c
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sleep", "3600"]
    livenessProbe:
      exec: {{command: ["false"]}}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata: {{name: hog}}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo $x | head -c 1"]
    resources: {{limits: {{memory: 32Mi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: missing}}
spec:
  containers:
  - {{name: c, image: "{}/nope:1"}}
---
apiVersion: v1
kind: Pod
metadata: {{name: stubborn}}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - {{name: c, image: localhost/busybox:1.0, imagePullPolicy: Never, command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]}}
"#,
        registry.addr
    ));
    // A crashing container goes to CrashLoopBackOff with a growing restart count.
    wait_for(Duration::from_secs(60), "CrashLoopBackOff", || {
        let st = jsonpath(s, "pod/crasher", "{.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].restartCount}");
        let restarts: i32 = st
            .split(' ')
            .nth(1)
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        (st.starts_with("CrashLoopBackOff") && restarts >= 1).then_some(())
    });
    let last = jsonpath(
        s,
        "pod/crasher",
        "{.status.containerStatuses[0].lastState.terminated.exitCode}",
    );
    assert_eq!(last, "2");
    // The back-off grows: 10 s after the second crash, 20 s after the third.
    wait_for(Duration::from_secs(60), "back-off 20s", || {
        let m = jsonpath(
            s,
            "pod/crasher",
            "{.status.containerStatuses[0].state.waiting.message}",
        );
        m.starts_with("back-off 20s restarting failed container=c pod=crasher_default(")
            .then_some(())
    });
    // A failing liveness probe restarts the container.
    wait_for(Duration::from_secs(60), "liveness restarts", || {
        let n: i32 = jsonpath(
            s,
            "pod/unhealthy",
            "{.status.containerStatuses[0].restartCount}",
        )
        .parse()
        .unwrap_or(0);
        (n >= 1).then_some(())
    });
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=unhealthy",
    ]);
    assert!(events.contains("Liveness probe failed"), "{events}");
    // Over its memory limit: OOMKilled.
    wait_for(Duration::from_secs(60), "OOMKilled", || {
        (jsonpath(
            s,
            "pod/hog",
            "{.status.containerStatuses[0].state.terminated.reason}",
        ) == "OOMKilled")
            .then_some(())
    });
    assert_eq!(jsonpath(s, "pod/hog", "{.status.phase}"), "Failed");
    // An image that does not exist: ErrImagePull, then ImagePullBackOff, with the registry's reason.
    let msg = wait_for(Duration::from_secs(60), "ImagePullBackOff", || {
        let st = jsonpath(s, "pod/missing", "{.status.containerStatuses[0].state.waiting.reason}|{.status.containerStatuses[0].state.waiting.message}");
        st.starts_with("ImagePullBackOff").then_some(st)
    });
    assert!(msg.contains("nope:1"), "{msg}");
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=missing",
    ]);
    assert!(events.contains("not found"), "{events}");
    // A process that ignores SIGTERM is killed at the end of its grace period.
    wait_for(Duration::from_secs(60), "stubborn running", || {
        (jsonpath(s, "pod/stubborn", "{.status.phase}") == "Running").then_some(())
    });
    let started = std::time::Instant::now();
    s.ok(&["delete", "pod", "stubborn", "--wait=true"]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(20),
        "deletion took {took:?}"
    );
}

#[test]
fn the_image_stop_signal_stops_containers() {
    // An image whose STOPSIGNAL is SIGUSR1 (as nginx's is SIGQUIT): a shell as PID 1 that
    // traps USR1 exits at once, while SIGTERM (ignored by PID 1 without a handler) would
    // leave it running for the whole 60 s grace period.
    let work = tempfile::tempdir().unwrap();
    let (layout, _) = busybox_image(work.path());
    let l = layout.display().to_string();
    let out = Command::new("umoci")
        .args(["config", "--image", &format!("{l}:1.0"), "--tag", "stop"])
        .args(["--config.stopsignal", "SIGUSR1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "umoci config: {out:?}");
    let registry = Registry::start(None);
    registry.push(&layout, "stop", "busybox:stop", None);
    let agent = AgentServer::start(&[], None);
    let s = agent.s();
    s.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: stopper, labels: {{app: stopper}}}}
spec:
  terminationGracePeriodSeconds: 60
  containers:
  - name: c
    image: {}/busybox:stop
    command: ["sh", "-c", "trap 'exit 0' USR1; echo ready; while true; do sleep 0.2; done"]
"#,
        registry.addr
    ));
    wait_ready(s, "app=stopper", 1);
    let started = std::time::Instant::now();
    s.ok(&["delete", "pod", "stopper", "--wait", "--timeout=50s"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "deletion took {took:?}");
}

#[test]
fn pod_sysctls_are_set_or_the_pod_is_rejected() {
    let work = tempfile::tempdir().unwrap();
    let (_, archive) = busybox_image(work.path());
    let agent = AgentServer::start(&[&archive], None);
    let s = agent.s();
    s.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: tuned, labels: {app: tuned}}
spec:
  securityContext:
    sysctls:
    - {name: net.ipv4.ip_unprivileged_port_start, value: "80"}
    - {name: net/ipv4/ping_group_range, value: "0 2147483647"}
  containers:
  - {name: c, image: localhost/busybox:1.0, imagePullPolicy: Never, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: greedy}
spec:
  securityContext:
    sysctls:
    - {name: kernel.msgmax, value: "65536"}
  containers:
  - {name: c, image: localhost/busybox:1.0, imagePullPolicy: Never, command: ["sleep", "3600"]}
"#,
    );
    wait_ready(s, "app=tuned", 1);
    // Set in the pod's own network namespace.
    let port = s.ok(&[
        "exec",
        "tuned",
        "--",
        "cat",
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
    ]);
    assert_eq!(port.trim(), "80");
    let ping = s.ok(&[
        "exec",
        "tuned",
        "--",
        "cat",
        "/proc/sys/net/ipv4/ping_group_range",
    ]);
    assert_eq!(
        ping.split_whitespace().collect::<Vec<_>>(),
        ["0", "2147483647"]
    );
    // An unsafe sysctl the node does not allow: rejected as the kubelet rejects it.
    let status = wait_for(Duration::from_secs(30), "greedy rejected", || {
        let v = jsonpath(s, "pod/greedy", "{.status.phase} {.status.reason}");
        (v.trim() == "Failed SysctlForbidden").then_some(v)
    });
    assert_eq!(status.trim(), "Failed SysctlForbidden");
    assert_eq!(
        jsonpath(s, "pod/greedy", "{.status.message}"),
        "Pod was rejected: forbidden sysctl: \"kernel.msgmax\" not allowlisted"
    );
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=SysctlForbidden",
    ]);
    assert!(events.contains("pod/greedy"), "{events}");
}

#[test]
fn killing_the_server_leaves_containers_running() {
    let work = tempfile::tempdir().unwrap();
    let (_, archive) = busybox_image(work.path());
    let mut agent = AgentServer::start(&[&archive], None);
    agent.s().apply(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: sleepers}
spec:
  replicas: 20
  selector: {matchLabels: {app: sleepers}}
  template:
    metadata: {labels: {app: sleepers}}
    spec:
      containers:
      - {name: c, image: localhost/busybox:1.0, imagePullPolicy: Never, command: ["sleep", "3600"]}
"#,
    );
    wait_ready(agent.s(), "app=sleepers", 20);
    let snapshot = |s: &Server| {
        let mut v: Vec<String> = stdout(&s.kubectl(&[
            "get", "pods", "-l", "app=sleepers", "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].state.running.startedAt} {.status.containerStatuses[0].restartCount}{\"\\n\"}{end}",
        ]))
        .lines()
        .map(str::to_string)
        .collect();
        v.sort();
        v
    };
    let before = snapshot(agent.s());
    // The in-container process's start time (clock ticks since boot) identifies the process.
    let pod = before[0].split(' ').next().unwrap().to_string();
    let start_ticks = agent.s().ok(&["exec", &pod, "--", "cat", "/proc/1/stat"]);
    agent.kill9_and_restart();
    std::thread::sleep(Duration::from_secs(3));
    wait_ready(agent.s(), "app=sleepers", 20);
    assert_eq!(snapshot(agent.s()), before, "same containers, no restarts");
    let after_ticks = agent.s().ok(&["exec", &pod, "--", "cat", "/proc/1/stat"]);
    assert_eq!(
        start_ticks.split(' ').nth(21),
        after_ticks.split(' ').nth(21),
        "the container's process is the same one"
    );
}

#[test]
fn private_registry_through_image_pull_secrets() {
    let work = tempfile::tempdir().unwrap();
    let (layout, _) = busybox_image(work.path());
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let registry = Registry::start(Some(&format!("puller:{hash}\n")));
    registry.push(&layout, "1.0", "private/busybox:1.0", Some("puller:s3cret"));
    let agent = AgentServer::start(&[], None);
    let s = agent.s();
    let image = format!("{}/private/busybox:1.0", registry.addr);
    let pod = |name: &str, secret: bool| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  {pull}
  containers:
  - {{name: c, image: "{image}", command: ["sleep", "3600"]}}
"#,
            pull = if secret {
                "imagePullSecrets: [{name: regcred}]"
            } else {
                ""
            }
        )
    };
    // Without credentials the registry refuses: ErrImagePull/ImagePullBackOff saying so.
    s.apply(&pod("anonymous", false));
    let msg = wait_for(Duration::from_secs(60), "pull refused", || {
        let st = jsonpath(s, "pod/anonymous", "{.status.containerStatuses[0].state.waiting.reason}|{.status.containerStatuses[0].state.waiting.message}");
        (st.starts_with("ErrImagePull") || st.starts_with("ImagePullBackOff")).then_some(st)
    });
    assert!(
        msg.contains("401")
            || msg.to_lowercase().contains("unauthorized")
            || msg.contains("authorize"),
        "{msg}"
    );
    // With a docker-registry secret it runs.
    s.ok(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server={}", registry.addr),
        "--docker-username=puller",
        "--docker-password=s3cret",
    ]);
    s.apply(&pod("authorized", true));
    wait_for(Duration::from_secs(60), "authorized pod running", || {
        (jsonpath(s, "pod/authorized", "{.status.phase}") == "Running").then_some(())
    });
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=authorized",
    ]);
    assert!(events.contains("Successfully pulled image"), "{events}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

#[test]
fn host_network_host_ports_and_attach() {
    let work = tempfile::tempdir().unwrap();
    let (_, archive) = busybox_image(work.path());
    let agent = AgentServer::start(&[&archive], None);
    let s = agent.s();
    let host_port = free_port();
    let mapped_port = free_port();
    s.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: on-host}}
spec:
  hostNetwork: true
  containers:
  - name: c
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo host-network > /www/index.html && exec httpd -f -p 127.0.0.1:{host_port} -h /www"]
---
apiVersion: v1
kind: Pod
metadata: {{name: mapped}}
spec:
  containers:
  - name: c
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo mapped > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{{containerPort: 8080, hostPort: {mapped_port}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: listener}}
spec:
  containers:
  - {{name: c, image: localhost/busybox:1.0, imagePullPolicy: Never, command: ["sh", "-c", "while read line; do echo got $line; done"], stdin: true}}
"#
    ));
    for p in ["on-host", "mapped", "listener"] {
        wait_for(Duration::from_secs(60), &format!("{p} running"), || {
            (jsonpath(s, &format!("pod/{p}"), "{.status.phase}") == "Running").then_some(())
        });
    }
    // hostNetwork: the pod's IP is the node's, and it listens on the host's loopback.
    let node_ip = jsonpath(
        s,
        "nodes",
        "{.items[0].status.addresses[?(@.type==\"InternalIP\")].address}",
    );
    assert_eq!(jsonpath(s, "pod/on-host", "{.status.podIP}"), node_ip);
    let got = wait_for(Duration::from_secs(20), "host-network server", || {
        let body = http_get(&format!("http://127.0.0.1:{host_port}/"));
        (!body.is_empty()).then_some(body)
    });
    assert_eq!(got.trim(), "host-network");
    // hostPort: reachable on the host through the mapping.
    let got = wait_for(Duration::from_secs(20), "hostPort mapping", || {
        let body = http_get(&format!("http://127.0.0.1:{mapped_port}/"));
        (!body.is_empty()).then_some(body)
    });
    assert_eq!(got.trim(), "mapped");
    // attach -i: input reaches the container's stdin, its output comes back.
    // (attach keeps streaming output until the container ends: stop it after a few seconds.)
    let mut child = Command::new("timeout")
        .args(["5", "kubectl", "--kubeconfig"])
        .arg(&s.kubeconfig)
        .args(["attach", "-i", "listener"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello\n").unwrap();
        std::thread::sleep(Duration::from_secs(2));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", stdout(&out), minato_e2e::stderr(&out));
    let logs = s.ok(&["logs", "listener"]);
    assert!(logs.contains("got hello"), "attach: {text}\nlogs: {logs}");
    assert!(text.contains("got hello"), "attach output: {text}");
    // exec -it under a real terminal (util-linux `script` makes one): the container sees a
    // tty of the caller's size. (The size is set just after the process starts — runc hands
    // over the terminal without waiting, as with containerd — so ask for it a moment later.)
    let cmd = format!(
        "stty rows 30 cols 100; kubectl --kubeconfig {} exec -it listener -- sh -c 'sleep 1; tty; stty size'",
        s.kubeconfig.display()
    );
    let out = Command::new("script")
        .args(["-qc", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux)");
    let text = stdout(&out);
    assert!(
        text.contains("/dev/pts/") && text.contains("30 100"),
        "exec -it: {text:?}"
    );
}

#[test]
fn memory_pressure_evicts_pods() {
    let work = tempfile::tempdir().unwrap();
    let (_, archive) = busybox_image(work.path());
    // A threshold above any machine's memory: the node is always under memory pressure.
    let agent = AgentServer::start_with(
        &[&archive],
        None,
        &["--eviction-hard", "memory.available<100Ti"],
    );
    let s = agent.s();
    s.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: hungry}
spec:
  # The node is tainted memory-pressure:NoSchedule (TaintNodesByCondition) from the start.
  tolerations: [{key: node.kubernetes.io/memory-pressure, operator: Exists, effect: NoSchedule}]
  containers:
  - {name: c, image: localhost/busybox:1.0, imagePullPolicy: Never, command: ["sleep", "3600"]}
"#,
    );
    let reason = wait_for(Duration::from_secs(90), "eviction", || {
        let st = jsonpath(
            s,
            "pod/hungry",
            "{.status.phase}|{.status.reason}|{.status.message}",
        );
        st.starts_with("Failed|Evicted").then_some(st)
    });
    assert!(
        reason.contains("The node was low on resource: memory"),
        "{reason}"
    );
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=hungry",
    ]);
    assert!(events.contains("Evicted"), "{events}");
    let pressure = jsonpath(
        s,
        "nodes",
        "{.items[0].status.conditions[?(@.type==\"MemoryPressure\")].status}",
    );
    assert_eq!(pressure, "True");
    let taints = jsonpath(s, "nodes", "{.items[0].spec.taints[*].key}");
    assert!(
        taints.contains("node.kubernetes.io/memory-pressure"),
        "{taints}"
    );
}

fn wait_evicted(s: &Server, pod: &str) -> String {
    wait_for(
        Duration::from_secs(90),
        &format!("eviction of {pod}"),
        || {
            let st = jsonpath(
                s,
                &format!("pod/{pod}"),
                "{.status.phase}|{.status.reason}|{.status.message}",
            );
            st.starts_with("Failed|Evicted").then_some(st)
        },
    )
}

#[test]
fn local_storage_limits_and_disk_pressure_evict_pods() {
    let work = tempfile::tempdir().unwrap();
    let (_, archive) = busybox_image(work.path());
    let agent = AgentServer::start(&[&archive], None);
    let s = agent.s();
    s.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: full-scratch}
spec:
  volumes: [{name: scratch, emptyDir: {sizeLimit: 1Mi}}]
  containers:
  - name: c
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sh", "-c", "dd if=/dev/zero of=/scratch/f bs=1024 count=4096; sleep 3600"]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
---
apiVersion: v1
kind: Pod
metadata: {name: full-rootfs}
spec:
  containers:
  - name: writer
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sh", "-c", "dd if=/dev/zero of=/big bs=1024 count=4096; sleep 3600"]
    resources: {limits: {ephemeral-storage: 2Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: modest}
spec:
  volumes: [{name: scratch, emptyDir: {sizeLimit: 8Mi}}]
  containers:
  - name: c
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sh", "-c", "dd if=/dev/zero of=/scratch/f bs=1024 count=1024; sleep 3600"]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
    resources: {limits: {ephemeral-storage: 4Mi}}
"#,
    );
    let scratch = wait_evicted(s, "full-scratch");
    assert!(
        scratch.ends_with("Usage of EmptyDir volume \"scratch\" exceeds the limit \"1Mi\". "),
        "{scratch}"
    );
    let rootfs = wait_evicted(s, "full-rootfs");
    assert!(
        rootfs.ends_with("Container writer exceeded its local ephemeral storage limit \"2Mi\". "),
        "{rootfs}"
    );
    // The pod within its limits has been through the same passes and still runs.
    assert_eq!(jsonpath(s, "pod/modest", "{.status.phase}"), "Running");
    drop(agent);

    // A threshold no disk can meet: the node is under disk pressure from the start.
    let agent = AgentServer::start_with(
        &[&archive],
        None,
        &["--eviction-hard", "nodefs.available<100%"],
    );
    let s = agent.s();
    s.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: squatter}
spec:
  tolerations: [{key: node.kubernetes.io/disk-pressure, operator: Exists, effect: NoSchedule}]
  containers:
  - {name: c, image: localhost/busybox:1.0, imagePullPolicy: Never, command: ["sleep", "3600"]}
"#,
    );
    let reason = wait_evicted(s, "squatter");
    assert!(
        reason.contains("The node was low on resource: ephemeral-storage. Threshold quantity: "),
        "{reason}"
    );
    let pressure = jsonpath(
        s,
        "nodes",
        "{.items[0].status.conditions[?(@.type==\"DiskPressure\")].status}",
    );
    assert_eq!(pressure, "True");
    let taints = jsonpath(s, "nodes", "{.items[0].spec.taints[*].key}");
    assert!(
        taints.contains("node.kubernetes.io/disk-pressure"),
        "{taints}"
    );
}

/// Under inode pressure the pod holding the most files goes first (2,000 empty files, not the
/// one 16 MiB file that would go first under a bytes threshold), and the message names the
/// inodes the node is short of.
#[test]
fn inode_pressure_evicts_the_pod_with_the_most_files_first() {
    let work = tempfile::tempdir().unwrap();
    let (_, archive) = busybox_image(work.path());
    let mut agent = AgentServer::start(&[&archive], None);
    agent.s().apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: hoarder, labels: {app: inodes}}
spec:
  tolerations: [{key: node.kubernetes.io/disk-pressure, operator: Exists, effect: NoSchedule}]
  containers:
  - name: c
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir /many && cd /many && i=0; while [ $i -lt 2000 ]; do : > f$i; i=$((i+1)); done; : > /done; sleep 3600"]
    readinessProbe: {exec: {command: ["test", "-f", "/done"]}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: frugal, labels: {app: inodes}}
spec:
  tolerations: [{key: node.kubernetes.io/disk-pressure, operator: Exists, effect: NoSchedule}]
  containers:
  - name: c
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sh", "-c", "dd if=/dev/zero of=/big bs=1M count=16; : > /done; sleep 3600"]
    readinessProbe: {exec: {command: ["test", "-f", "/done"]}, periodSeconds: 1}
"#,
    );
    wait_ready(agent.s(), "app=inodes", 2);
    // Now a threshold no filesystem meets: the node is short of inodes from its first pass.
    agent.restart_with_eviction_hard("nodefs.inodesFree<100%");
    let s = agent.s();
    let reason = wait_evicted(s, "hoarder");
    assert!(
        reason.contains("The node was low on resource: inodes. Threshold quantity: "),
        "{reason}"
    );
    // One pod per pass (10 s): the other one is still running.
    assert_eq!(jsonpath(s, "pod/frugal", "{.status.phase}"), "Running");
}

/// `minato agent --server URL --token T` in a process of its own, as on a second machine: it
/// fetches and checks the CA, registers its node, runs pods, and serves their logs and exec
/// through the API server. A wrong token, or a token for another CA, is refused up front.
#[test]
fn an_agent_joins_by_url_and_token_and_runs_pods() {
    let work = tempfile::tempdir().unwrap();
    let (_, archive) = busybox_image(work.path());
    let agent = AgentServer::start_joined(&[&archive]);
    let s = agent.s();
    assert!(agent.agent_pid().is_some());
    s.ok(&[
        "run",
        "joined",
        "--image",
        "localhost/busybox:1.0",
        "--image-pull-policy",
        "Never",
        "--labels",
        "app=joined",
        "--",
        "sh",
        "-c",
        "echo hello from $(hostname); exec sleep 3600",
    ]);
    wait_ready(s, "app=joined", 1);
    let node = jsonpath(s, "pod/joined", "{.spec.nodeName}");
    assert_eq!(
        jsonpath(s, "nodes", "{.items[*].metadata.name}"),
        node,
        "the joined agent's node is the only node"
    );
    let logs = wait_for(Duration::from_secs(20), "logs of the joined pod", || {
        let out = stdout(&s.kubectl(&["logs", "joined"]));
        out.contains("hello from joined").then_some(out)
    });
    assert!(logs.contains("hello from joined"), "{logs}");
    assert_eq!(s.ok(&["exec", "joined", "--", "hostname"]).trim(), "joined");

    let token = std::fs::read_to_string(s.dir.path().join("node-token")).unwrap();
    let token = token.trim();
    let try_join = |token: &str| {
        let out = Command::new("timeout")
            .arg("30")
            .arg(minato_e2e::minato_bin())
            .args(["agent", "--server", &s.url])
            .arg("--data-dir")
            .arg(work.path().join("refused-agent"))
            .args(["--node-name", "intruder", "--kubelet-port", "0"])
            .env("MINATO_TOKEN", token)
            .output()
            .expect("run minato agent");
        assert!(!out.status.success(), "{token} was accepted");
        minato_e2e::stderr(&out)
    };
    let (prefix, _) = token.split_once("::node:").unwrap();
    let err = try_join(&format!("{prefix}::node:wrong"));
    assert!(err.contains("refused the join token"), "{err}");
    let other_ca = format!(
        "K10{}::node:{}",
        "0".repeat(64),
        token.rsplit(':').next().unwrap()
    );
    let err = try_join(&other_ca);
    assert!(err.contains("does not match the hash"), "{err}");
    let err = try_join("just-a-secret");
    assert!(err.contains("K10<CA hash>::node:<secret>"), "{err}");
    assert!(
        !s.ok(&["get", "nodes"]).contains("intruder"),
        "a refused agent registers nothing"
    );
}

/// `shareProcessNamespace`: the pod's containers see each other's processes under a
/// `/pause` init, one may signal another's process, and the namespace ends with the pod.
#[test]
fn containers_of_a_pod_share_one_process_namespace() {
    let work = tempfile::tempdir().unwrap();
    let (_, archive) = busybox_image(work.path());
    let agent = AgentServer::start(&[&archive], None);
    let s = agent.s();
    s.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: shared, labels: {app: shared}}
spec:
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: localhost/busybox:1.0, imagePullPolicy: Never, command: ["sleep", "3600"]}
  - {name: shell, image: localhost/busybox:1.0, imagePullPolicy: Never, command: ["sleep", "3601"]}
---
apiVersion: v1
kind: Pod
metadata: {name: private, labels: {app: private}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: localhost/busybox:1.0, imagePullPolicy: Never, command: ["sleep", "3602"]}
"#,
    );
    wait_ready(s, "app=shared", 1);
    wait_ready(s, "app=private", 1);
    // Every process as "PID cmdline", as `ps` would list them.
    const LIST: &str =
        "for p in /proc/[0-9]*; do echo \"${p#/proc/} $(tr '\\0' ' ' < $p/cmdline)\"; done";
    let procs = |pod: &str, c: &str| -> Vec<(String, String)> {
        s.ok(&["exec", pod, "-c", c, "--", "sh", "-c", LIST])
            .lines()
            .filter_map(|l| l.trim().split_once(' '))
            .map(|(p, c)| (p.to_string(), c.trim().to_string()))
            .collect()
    };
    let seen = procs("shared", "shell");
    assert!(seen.contains(&("1".into(), "/pause".into())), "{seen:?}");
    let app_pid = seen
        .iter()
        .find(|(_, c)| c == "sleep 3600")
        .map(|(p, _)| p.clone())
        .unwrap_or_else(|| panic!("the app container's process is visible: {seen:?}"));
    assert!(seen.iter().any(|(_, c)| c == "sleep 3601"), "{seen:?}");
    // Without sharing, the container's own process is PID 1 and nothing else is there.
    let alone = procs("private", "app");
    assert!(
        alone.contains(&("1".into(), "sleep 3602".into())),
        "{alone:?}"
    );
    assert!(!alone.iter().any(|(_, c)| c == "/pause"), "{alone:?}");

    // One container ends the other's process: only that container restarts.
    s.ok(&["exec", "shared", "-c", "shell", "--", "kill", &app_pid]);
    wait_for(
        Duration::from_secs(60),
        "the app container restarted",
        || {
            let v = jsonpath(
                s,
                "pod/shared",
                "{.status.containerStatuses[?(@.name==\"app\")].restartCount}",
            );
            (v.trim() == "1").then_some(())
        },
    );
    let shell_restarts = jsonpath(
        s,
        "pod/shared",
        "{.status.containerStatuses[?(@.name==\"shell\")].restartCount}",
    );
    assert_eq!(shell_restarts.trim(), "0");
    wait_ready(s, "app=shared", 1);
    let seen = procs("shared", "shell");
    assert!(seen.contains(&("1".into(), "/pause".into())), "{seen:?}");
    assert!(seen.iter().any(|(_, c)| c == "sleep 3600"), "{seen:?}");

    // The namespace's init on the host, found through the agent's record, ends with the pod.
    let uid = jsonpath(s, "pod/shared", "{.metadata.uid}");
    let record = s
        .dir
        .path()
        .join("agent/pods")
        .join(uid.trim())
        .join("pid-namespace.json");
    let holder: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).expect("the holder's record")).unwrap();
    let pid = holder["pid"].as_u64().expect("pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"/pause\0");
    s.ok(&["delete", "pod", "shared", "--wait", "--timeout=60s"]);
    wait_for(Duration::from_secs(10), "the holder gone", || {
        (!std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read(format!("/proc/{pid}/cmdline")).ok() != Some(cmdline.clone()))
        .then_some(())
    });
}
