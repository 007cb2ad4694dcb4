//! DNS resolution of service and target hostnames, cached by record TTL.
//!
//! Like Kong's resolver: IPv4 records are preferred (`dns_order` queries A before AAAA),
//! an expired answer keeps being served for up to [`STALE_TTL`] while a refresh runs in the
//! background (`dns_stale_ttl`), a name that does not exist is remembered for
//! [`NOT_FOUND_TTL`] (`dns_not_found_ttl`) and other failures for [`ERROR_TTL`]
//! (`dns_error_ttl`). Entries are interned per hostname and shared by every runtime, so a
//! configuration swap keeps the cache warm.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

pub const STALE_TTL: Duration = Duration::from_secs(3600);
pub const NOT_FOUND_TTL: Duration = Duration::from_secs(30);
pub const ERROR_TTL: Duration = Duration::from_secs(1);

/// Why a name could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("name resolution failed: {0} not found")]
    NotFound(String),
    #[error("name resolution failed for {name}: {reason}")]
    Failed { name: String, reason: String },
}

/// The result of one lookup.
#[derive(Debug)]
pub struct Resolution {
    pub addrs: Vec<IpAddr>,
    /// When the answer stops being fresh.
    pub expires: Instant,
    /// Set when this is a cached failure (then `addrs` is empty).
    pub error: Option<DnsError>,
}

/// The process-wide resolver and its per-hostname cache.
pub struct Dns {
    resolver: TokioResolver,
    hosts: Mutex<HashMap<String, Weak<HostEntry>>>,
}

impl Dns {
    /// A resolver with the system configuration (`/etc/resolv.conf`, `/etc/hosts`). Without
    /// a readable system configuration only the hosts file answers.
    pub fn system() -> Result<Arc<Dns>, String> {
        let mut builder = TokioResolver::builder_tokio().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "no usable system DNS configuration; only /etc/hosts resolves");
            TokioResolver::builder_with_config(
                ResolverConfig::default(),
                TokioRuntimeProvider::default(),
            )
        });
        builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
        let resolver = builder
            .build()
            .map_err(|e| format!("DNS resolver setup failed: {e}"))?;
        Ok(Arc::new(Dns {
            resolver,
            hosts: Mutex::new(HashMap::new()),
        }))
    }

    /// The cache entry for `name` (lower-cased), shared with every other user of the name.
    pub fn host(self: &Arc<Self>, name: &str) -> Arc<HostEntry> {
        let name = name.to_ascii_lowercase();
        let mut hosts = match self.hosts.lock() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(existing) = hosts.get(&name).and_then(Weak::upgrade) {
            return existing;
        }
        // Forget entries no runtime uses any more.
        hosts.retain(|_, w| w.strong_count() > 0);
        let entry = Arc::new(HostEntry {
            name: name.clone(),
            dns: Arc::downgrade(self),
            state: ArcSwapOption::empty(),
            refreshing: AtomicBool::new(false),
            refresh_lock: tokio::sync::Mutex::new(()),
            next: AtomicUsize::new(0),
        });
        hosts.insert(name, Arc::downgrade(&entry));
        entry
    }

    async fn lookup(&self, name: &str) -> Resolution {
        let now = Instant::now();
        match self.resolver.lookup_ip(name).await {
            Ok(lookup) => {
                let addrs: Vec<IpAddr> = lookup.iter().collect();
                if addrs.is_empty() {
                    return Resolution {
                        addrs,
                        expires: now + NOT_FOUND_TTL,
                        error: Some(DnsError::NotFound(name.to_string())),
                    };
                }
                Resolution {
                    addrs,
                    expires: lookup.valid_until(),
                    error: None,
                }
            }
            Err(e) if e.is_no_records_found() => Resolution {
                addrs: Vec::new(),
                expires: now + NOT_FOUND_TTL,
                error: Some(DnsError::NotFound(name.to_string())),
            },
            Err(e) => Resolution {
                addrs: Vec::new(),
                expires: now + ERROR_TTL,
                error: Some(DnsError::Failed {
                    name: name.to_string(),
                    reason: e.to_string(),
                }),
            },
        }
    }
}

/// The cached addresses of one hostname.
pub struct HostEntry {
    name: String,
    dns: Weak<Dns>,
    state: ArcSwapOption<Resolution>,
    refreshing: AtomicBool,
    refresh_lock: tokio::sync::Mutex<()>,
    next: AtomicUsize,
}

impl HostEntry {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current answer, without resolving.
    pub fn cached(&self) -> Option<Arc<Resolution>> {
        self.state.load_full()
    }

    /// Fresh (or usable stale) addresses, resolving when nothing usable is cached.
    pub async fn resolve(self: &Arc<Self>) -> Result<Arc<Resolution>, DnsError> {
        let now = Instant::now();
        if let Some(current) = self.state.load_full() {
            if now < current.expires {
                return match &current.error {
                    None => Ok(current),
                    Some(e) => Err(e.clone()),
                };
            }
            // Expired: serve stale addresses while one background task refreshes.
            if current.error.is_none() && now < current.expires + STALE_TTL {
                self.refresh_in_background();
                return Ok(current);
            }
        }
        // Boxed: a lookup is rare and its future large; inline, it would grow every
        // request's future.
        Box::pin(self.refresh()).await
    }

    /// One address, rotating over the answer's records (Kong's `toip` round robin).
    pub async fn pick(self: &Arc<Self>) -> Result<IpAddr, DnsError> {
        let resolution = self.resolve().await?;
        let n = resolution.addrs.len();
        let i = self.next.fetch_add(1, Ordering::Relaxed) % n.max(1);
        resolution
            .addrs
            .get(i)
            .copied()
            .ok_or_else(|| DnsError::NotFound(self.name.clone()))
    }

    async fn refresh(self: &Arc<Self>) -> Result<Arc<Resolution>, DnsError> {
        let _single_flight = self.refresh_lock.lock().await;
        // Another caller may have refreshed while this one waited.
        if let Some(current) = self.state.load_full()
            && Instant::now() < current.expires
        {
            return match &current.error {
                None => Ok(current),
                Some(e) => Err(e.clone()),
            };
        }
        let Some(dns) = self.dns.upgrade() else {
            return Err(DnsError::Failed {
                name: self.name.clone(),
                reason: "resolver shut down".to_string(),
            });
        };
        let fresh = dns.lookup(&self.name).await;
        if let Some(error) = &fresh.error {
            // Keep serving the last good answer through its stale window.
            if let Some(current) = self.state.load_full()
                && current.error.is_none()
                && Instant::now() < current.expires + STALE_TTL
            {
                tracing::warn!(host = %self.name, %error, "DNS refresh failed; serving stale records");
                return Ok(current);
            }
            let error = error.clone();
            self.state.store(Some(Arc::new(fresh)));
            return Err(error);
        }
        let fresh = Arc::new(fresh);
        self.state.store(Some(fresh.clone()));
        Ok(fresh)
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.refresh().await;
            this.refreshing.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn localhost_resolves_from_hosts_file_and_is_cached() {
        let dns = Dns::system().expect("resolver");
        let entry = dns.host("localhost");
        let first = entry.resolve().await.expect("localhost resolves");
        assert!(first.addrs.iter().any(|a| a.is_loopback()));
        let again = entry.resolve().await.expect("cached");
        assert!(
            Arc::ptr_eq(&first, &again),
            "second lookup is served from the cache"
        );
        assert!(
            Arc::ptr_eq(&entry, &dns.host("LOCALHOST")),
            "entries are interned"
        );
    }

    #[tokio::test]
    async fn unknown_names_fail_and_the_failure_is_cached() {
        let dns = Dns::system().expect("resolver");
        let entry = dns.host("does-not-exist.invalid");
        let err = entry.resolve().await.expect_err("cannot resolve");
        assert!(matches!(
            err,
            DnsError::NotFound(_) | DnsError::Failed { .. }
        ));
        assert!(entry.cached().is_some_and(|r| r.error.is_some()));
    }
}
