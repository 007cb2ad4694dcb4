//! Balancing over upstream targets, through the real `portico-dp` with in-process targets:
//! consistent hashing (header, cookie, IP), least-connections, latency, retries to another
//! peer, active and passive health checks, health kept across configuration updates, probes
//! stopping with their upstream, and `kong_upstream_target_health`.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::model::{Algorithm, HashOn, Upstream as UpstreamEntity};
use data_plane::runtime::ConfigSet;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use portico_tests::certs::self_signed;
use portico_tests::client::{self, get};
use portico_tests::entities::{route_hosts, service, target, upstream};
use portico_tests::process::eventually;
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::{Conn, Upstream, UpstreamBody, full};
use tokio::sync::watch;

const DEADLINE: Duration = Duration::from_secs(20);

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// A target server that names itself in `x-backend` and can be made to fail.
///
/// `/health` (the probe path) answers 200 while `healthy`, else 500; `/hold` waits until the
/// shared gate opens; anything else answers after `delay_ms`, 200, or 500 while `failing`.
struct Backend {
    name: &'static str,
    server: Upstream,
    healthy: Arc<AtomicBool>,
    failing: Arc<AtomicBool>,
    probes: Arc<AtomicUsize>,
    held: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicU64>,
    probe_sni: Arc<Mutex<Option<String>>>,
}

impl Backend {
    async fn start(name: &'static str) -> Backend {
        Backend::with_gate(name, watch::channel(true).1).await
    }

    async fn with_gate(name: &'static str, gate: watch::Receiver<bool>) -> Backend {
        Backend::serve(name, gate, None).await
    }

    /// Over TLS with `config`; probes record the SNI they sent in `probe_sni`.
    async fn tls(name: &'static str, config: Arc<rustls::ServerConfig>) -> Backend {
        Backend::serve(name, watch::channel(true).1, Some(config)).await
    }

    async fn serve(
        name: &'static str,
        gate: watch::Receiver<bool>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Backend {
        let healthy = Arc::new(AtomicBool::new(true));
        let failing = Arc::new(AtomicBool::new(false));
        let probes = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(AtomicUsize::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let probe_sni = Arc::new(Mutex::new(None));
        let (h, f, p, k, d, sni) = (
            healthy.clone(),
            failing.clone(),
            probes.clone(),
            held.clone(),
            delay_ms.clone(),
            probe_sni.clone(),
        );
        let handler = move |req: Request<Incoming>, conn: Conn| {
            let (h, f, p, k, d) = (h.clone(), f.clone(), p.clone(), k.clone(), d.clone());
            let (mut gate, sni) = (gate.clone(), sni.clone());
            async move {
                let path = req.uri().path().to_string();
                let status = if path == "/health" {
                    *sni.lock().unwrap() = conn.tls_sni;
                    p.fetch_add(1, Ordering::SeqCst);
                    if h.load(Ordering::SeqCst) { 200 } else { 500 }
                } else {
                    if path == "/hold" {
                        k.fetch_add(1, Ordering::SeqCst);
                        let _ = gate.wait_for(|open| *open).await;
                    }
                    let ms = d.load(Ordering::SeqCst);
                    if ms > 0 {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    if f.load(Ordering::SeqCst) { 500 } else { 200 }
                };
                named(name, status)
            }
        };
        let server = match tls {
            None => Upstream::start(handler).await,
            Some(config) => Upstream::start_tls(handler, config).await,
        };
        Backend {
            name,
            server,
            healthy,
            failing,
            probes,
            held,
            delay_ms,
            probe_sni,
        }
    }

    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.server.port())
    }

    fn probes(&self) -> usize {
        self.probes.load(Ordering::SeqCst)
    }
}

fn named(name: &'static str, status: u16) -> Response<UpstreamBody> {
    let mut resp = Response::new(full(name));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("x-backend", http::HeaderValue::from_static(name));
    resp
}

/// `lb.test` routed to upstream `up` over `backends` (weight 100 each).
fn balanced(up: &UpstreamEntity, backends: &[&Backend]) -> ConfigSet {
    let svc = service(&format!("http://{}", up.name));
    ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["lb.test"])],
        services: vec![svc],
        upstreams: vec![up.clone()],
        targets: backends
            .iter()
            .map(|b| target(up, &b.target(), 100))
            .collect(),
        ..Default::default()
    }
}

async fn send(proxy: &TestProxy, path: &str, headers: &[(&str, &str)]) -> client::Resp {
    let mut req = get(path, "lb.test");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    client::send(proxy.http, req.body(empty()).unwrap())
        .await
        .unwrap()
}

/// The backend that served each of `n` requests.
async fn served_by(proxy: &TestProxy, n: usize, headers: &[(&str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let resp = send(proxy, "/", headers).await;
        out.push(resp.header("x-backend").to_string());
    }
    out
}

fn all_same(names: &[String]) -> bool {
    names.windows(2).all(|w| w[0] == w[1]) && !names[0].is_empty()
}

/// The state `kong_upstream_target_health` reports as 1 for `target` of `up`.
async fn metric_state(proxy: &TestProxy, up: &str, target: &str) -> Option<String> {
    let req = get("/metrics", "localhost").body(empty()).unwrap();
    let text = client::send(proxy.status, req).await.ok()?.text();
    let prefix = format!(
        "kong_upstream_target_health{{upstream=\"{up}\",target=\"{target}\",address=\"{target}\",state=\""
    );
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .find(|rest| rest.ends_with("} 1"))
        .and_then(|rest| rest.split('"').next())
        .map(str::to_string)
}

fn hashing(name: &str, hash_on: HashOn) -> UpstreamEntity {
    let mut up = upstream(name);
    up.algorithm = Algorithm::ConsistentHashing;
    up.hash_on = hash_on;
    up
}

#[tokio::test]
async fn hashing_on_a_header_sticks_each_value_to_one_target() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let mut up = hashing("hash-header.upstream", HashOn::Header);
    up.hash_on_header = Some("X-User".into());
    let proxy = TestProxy::start(balanced(&up, &[&a, &b])).await;
    let mut owners = std::collections::HashSet::new();
    for user in 0..16 {
        let user = format!("user-{user}");
        let names = served_by(&proxy, 6, &[("x-user", &user)]).await;
        assert!(all_same(&names), "{user}: {names:?}");
        owners.insert(names[0].clone());
    }
    assert_eq!(owners.len(), 2, "users spread over both targets");
}

#[tokio::test]
async fn hashing_on_a_cookie_sets_it_when_absent_and_sticks() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let mut up = hashing("hash-cookie.upstream", HashOn::Cookie);
    up.hash_on_cookie = Some("hashme".into());
    up.hash_on_cookie_path = Some("/app".into());
    let proxy = TestProxy::start(balanced(&up, &[&a, &b])).await;

    let first = send(&proxy, "/", &[("cookie", "other=1")]).await;
    let set_cookie = first.header("set-cookie").to_string();
    let value = set_cookie
        .strip_prefix("hashme=")
        .and_then(|rest| rest.strip_suffix("; Path=/app; Same-Site=Lax; HttpOnly"))
        .unwrap_or_else(|| panic!("unexpected Set-Cookie {set_cookie:?}"));
    assert!(uuid::Uuid::parse_str(value).is_ok(), "{value}");

    let cookie = format!("hashme={value}");
    let mut names = vec![first.header("x-backend").to_string()];
    for _ in 0..10 {
        let resp = send(&proxy, "/", &[("cookie", &cookie)]).await;
        assert_eq!(
            resp.header("set-cookie"),
            "",
            "no cookie when the client has one"
        );
        names.push(resp.header("x-backend").to_string());
    }
    assert!(all_same(&names), "{names:?}");
}

#[tokio::test]
async fn hashing_on_the_client_ip_sticks() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let up = hashing("hash-ip.upstream", HashOn::Ip);
    let proxy =
        TestProxy::start_with(balanced(&up, &[&a, &b]), &["--trusted-ips", "127.0.0.1"]).await;
    let mut owners = std::collections::HashSet::new();
    for n in 1..=16 {
        let ip = format!("10.1.2.{n}");
        let names = served_by(&proxy, 5, &[("x-real-ip", &ip)]).await;
        assert!(all_same(&names), "{ip}: {names:?}");
        owners.insert(names[0].clone());
    }
    assert_eq!(owners.len(), 2, "clients spread over both targets");
}

#[tokio::test]
async fn least_connections_prefers_the_idle_target() {
    let (open, gate) = watch::channel(false);
    let a = Backend::with_gate("a", gate.clone()).await;
    let b = Backend::with_gate("b", gate).await;
    let mut up = upstream("least.upstream");
    up.algorithm = Algorithm::LeastConnections;
    let proxy = Arc::new(TestProxy::start(balanced(&up, &[&a, &b])).await);
    let held = {
        let proxy = proxy.clone();
        tokio::spawn(async move { send(&proxy, "/hold", &[]).await })
    };
    let busy = eventually(DEADLINE, "a request held by a target", || async {
        [&a, &b]
            .into_iter()
            .find(|t| t.held.load(Ordering::SeqCst) == 1)
            .map(|t| t.name)
    })
    .await;
    let names = served_by(&proxy, 8, &[]).await;
    assert!(
        names.iter().all(|n| n != busy),
        "{busy} holds a request: {names:?}"
    );
    open.send(true).unwrap();
    assert_eq!(held.await.unwrap().status, 200);
    // Both idle again: both serve.
    let names = served_by(&proxy, 8, &[]).await;
    assert!(names.iter().any(|n| n == "a") && names.iter().any(|n| n == "b"));
}

#[tokio::test]
async fn latency_prefers_the_faster_target() {
    let (slow, fast) = (Backend::start("slow").await, Backend::start("fast").await);
    slow.delay_ms.store(300, Ordering::SeqCst);
    let mut up = upstream("latency.upstream");
    up.algorithm = Algorithm::Latency;
    let proxy = TestProxy::start(balanced(&up, &[&slow, &fast])).await;
    // Each target is tried once at most before its average is known; after that the slow
    // one (300 ms against about 1 ms) is not picked while its average stays higher.
    let names = served_by(&proxy, 12, &[]).await;
    let slow_hits = names.iter().filter(|n| *n == "slow").count();
    assert!(slow_hits <= 2, "{names:?}");
}

#[tokio::test]
async fn retries_move_to_another_target() {
    let b = Backend::start("b").await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let up = upstream("retry.upstream");
    let mut config = balanced(&up, &[&b]);
    config
        .targets
        .push(target(&up, &format!("127.0.0.1:{closed}"), 100));
    config.services[0].retries = 1;
    let proxy = TestProxy::start(config).await;
    for _ in 0..10 {
        let resp = send(&proxy, "/", &[]).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-backend"), "b");
    }
}

/// Active checks probing `/health` every 0.1 s; one result flips a target.
fn actively_checked(name: &str) -> UpstreamEntity {
    let mut up = upstream(name);
    let active = &mut up.healthchecks.active;
    active.http_path = "/health".into();
    active.healthy.interval = 0.1;
    active.healthy.successes = 1;
    active.unhealthy.interval = 0.1;
    active.unhealthy.http_failures = 1;
    up
}

#[tokio::test]
async fn an_actively_failing_target_stops_receiving_traffic_and_comes_back() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let up = actively_checked("active.upstream");
    let proxy = TestProxy::start(balanced(&up, &[&a, &b])).await;
    eventually(DEADLINE, "a probed target reported healthy", || async {
        (metric_state(&proxy, &up.name, &a.target()).await.as_deref() == Some("healthy"))
            .then_some(())
    })
    .await;

    a.healthy.store(false, Ordering::SeqCst);
    eventually(DEADLINE, "a reported unhealthy", || async {
        (metric_state(&proxy, &up.name, &a.target()).await.as_deref() == Some("unhealthy"))
            .then_some(())
    })
    .await;
    let names = served_by(&proxy, 10, &[]).await;
    assert!(names.iter().all(|n| n == "b"), "{names:?}");
    assert_eq!(
        metric_state(&proxy, &up.name, &b.target()).await.as_deref(),
        Some("healthy")
    );

    a.healthy.store(true, Ordering::SeqCst);
    eventually(DEADLINE, "a serving again", || async {
        let names = served_by(&proxy, 4, &[]).await;
        names.iter().any(|n| n == "a").then_some(())
    })
    .await;
    assert_eq!(
        metric_state(&proxy, &up.name, &a.target()).await.as_deref(),
        Some("healthy")
    );
}

#[tokio::test]
async fn https_probes_send_the_configured_sni_and_verify_when_asked() {
    let pem = self_signed(&["backend.test"]);
    let a = Backend::tls("a", pem.server_config()).await;
    let mut up = actively_checked("https-probed.upstream");
    up.healthchecks.active.kind = "https".into();
    up.healthchecks.active.https_sni = Some("probe.test".into());
    up.healthchecks.active.https_verify_certificate = false;
    up.healthchecks.active.unhealthy.tcp_failures = 1;
    let mut config = balanced(&up, &[&a]);
    config.services[0] = service(&format!("https://{}", up.name));
    config.routes[0] = route_hosts(Some(&config.services[0]), &["lb.test"]);
    let proxy = TestProxy::start(config.clone()).await;
    a.healthy.store(false, Ordering::SeqCst);
    eventually(DEADLINE, "an https probe saw the failure", || async {
        (metric_state(&proxy, &up.name, &a.target()).await.as_deref() == Some("unhealthy"))
            .then_some(())
    })
    .await;
    assert_eq!(a.probe_sni.lock().unwrap().as_deref(), Some("probe.test"));
    a.healthy.store(true, Ordering::SeqCst);
    eventually(DEADLINE, "an https probe saw the recovery", || async {
        (metric_state(&proxy, &up.name, &a.target()).await.as_deref() == Some("healthy"))
            .then_some(())
    })
    .await;

    // Verifying a self-signed certificate fails the handshake: a TCP failure.
    let probes_before = a.probes();
    let mut verifying = up.clone();
    verifying.healthchecks.active.https_verify_certificate = true;
    config.upstreams = vec![verifying];
    proxy.publish(config).await;
    eventually(DEADLINE, "the handshake failures counted", || async {
        (metric_state(&proxy, &up.name, &a.target()).await.as_deref() == Some("unhealthy"))
            .then_some(())
    })
    .await;
    assert!(
        a.probes() <= probes_before + 1,
        "no probe request got through"
    );
}

#[tokio::test]
async fn passive_failures_mark_a_target_unhealthy_across_configuration_updates() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let mut up = upstream("passive.upstream");
    up.healthchecks.passive.unhealthy.http_failures = 1;
    let mut config = balanced(&up, &[&a, &b]);
    let proxy = TestProxy::start(config.clone()).await;
    assert_eq!(
        metric_state(&proxy, &up.name, &a.target()).await.as_deref(),
        Some("healthy")
    );

    a.failing.store(true, Ordering::SeqCst);
    // The failing response itself reaches the client (500 is not retried).
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(send(&proxy, "/", &[]).await.status.as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 500).count(),
        1,
        "{statuses:?}"
    );
    let names = served_by(&proxy, 10, &[]).await;
    assert!(names.iter().all(|n| n == "b"), "{names:?}");
    assert_eq!(
        metric_state(&proxy, &up.name, &a.target()).await.as_deref(),
        Some("unhealthy")
    );

    // A configuration update that keeps the upstream and its targets keeps their health.
    a.failing.store(false, Ordering::SeqCst);
    let other = service("http://127.0.0.1:9");
    config
        .routes
        .push(route_hosts(Some(&other), &["other.test"]));
    config.services.push(other);
    proxy.publish(config).await;
    let names = served_by(&proxy, 10, &[]).await;
    assert!(names.iter().all(|n| n == "b"), "{names:?}");
    assert_eq!(
        metric_state(&proxy, &up.name, &a.target()).await.as_deref(),
        Some("unhealthy")
    );
}

#[tokio::test]
async fn all_targets_unhealthy_is_503() {
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        })
        .collect();
    let mut up = upstream("down.upstream");
    up.healthchecks.passive.unhealthy.tcp_failures = 1;
    let svc = service(&format!("http://{}", up.name));
    let config = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["lb.test"])],
        services: vec![svc],
        targets: ports
            .iter()
            .map(|p| target(&up, &format!("127.0.0.1:{p}"), 100))
            .collect(),
        upstreams: vec![up.clone()],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let _ = send(&proxy, "/", &[]).await;
    let resp = send(&proxy, "/", &[]).await;
    assert_eq!(resp.status, 503);
    assert_eq!(
        resp.json()["message"],
        "failure to get a peer from the ring-balancer"
    );
    for p in ports {
        assert_eq!(
            metric_state(&proxy, &up.name, &format!("127.0.0.1:{p}"))
                .await
                .as_deref(),
            Some("unhealthy")
        );
    }
}

#[tokio::test]
async fn probes_stop_when_their_upstream_leaves_the_configuration() {
    let (open, gate) = watch::channel(false);
    let a = Backend::with_gate("a", gate).await;
    let b = Backend::start("b").await;
    let gone = actively_checked("gone.upstream");
    let kept = actively_checked("kept.upstream");
    let kept_config = balanced(&kept, &[&b]);
    let kept_svc = kept_config.services[0].clone();
    let kept_route = route_hosts(Some(&kept_svc), &["kept.test"]);
    let mut config = balanced(&gone, &[&a]);
    config.upstreams.push(kept.clone());
    config.targets.extend(kept_config.targets.clone());
    config.services.push(kept_svc.clone());
    config.routes.push(kept_route.clone());
    let proxy = Arc::new(TestProxy::start(config).await);
    eventually(DEADLINE, "both upstreams probed", || async {
        (a.probes() > 0 && b.probes() > 0).then_some(())
    })
    .await;
    // A request in flight keeps the old configuration (and its balancers) alive through
    // the update; the probes must stop all the same.
    let held = {
        let proxy = proxy.clone();
        tokio::spawn(async move { send(&proxy, "/hold", &[]).await })
    };
    eventually(DEADLINE, "a request held", || async {
        (a.held.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;

    let without = ConfigSet {
        upstreams: vec![kept.clone()],
        targets: kept_config.targets,
        services: vec![kept_svc],
        routes: vec![kept_route],
        ..Default::default()
    };
    proxy.publish(without).await;
    let stopped_at = a.probes();
    let b_now = b.probes();
    // The kept upstream's probes are the clock: several rounds later, none reached `a`
    // (one probe may have been under way when the configuration changed).
    eventually(DEADLINE, "more rounds for the kept upstream", || async {
        (b.probes() >= b_now + 5).then_some(())
    })
    .await;
    assert!(
        a.probes() <= stopped_at + 1,
        "{} -> {}",
        stopped_at,
        a.probes()
    );
    open.send(true).unwrap();
    assert_eq!(held.await.unwrap().status, 200);
}
