//! Relay configuration: defaults, overridden by `HOOKBAY_*` environment
//! variables or command-line flags, validated once at start-up so a bad value
//! stops the relay with a clear message instead of failing at first use.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

/// Everything `hookbay serve` needs. Each field can be given as a flag or
/// as the environment variable named next to it.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// A file of `HOOKBAY_*=value` lines (same names as the environment);
    /// the environment wins over the file.
    #[arg(long, env = "HOOKBAY_CONFIG")]
    pub config: Option<std::path::PathBuf>,

    /// Address the HTTP server listens on.
    #[arg(long, env = "HOOKBAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Public base URL of this relay, used to build ingest URLs and the
    /// ack/nack/reject/extend URLs. Default: derived from the listen address.
    #[arg(long, env = "HOOKBAY_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Redis URL (`redis://host:port/db`, `rediss://…`), or a comma-separated
    /// list of Redis Cluster seed nodes: selects the Redis backend. Unset:
    /// the embedded store under HOOKBAY_DATA_DIR (the relay never guesses a
    /// Redis; a machine's shared Redis on 6379 is not ours to use).
    #[arg(long, env = "HOOKBAY_REDIS_URL", default_value = "")]
    pub redis_url: String,

    /// Directory of the embedded store (used when HOOKBAY_REDIS_URL is
    /// unset); created if missing. One hookbay process per directory.
    #[arg(long, env = "HOOKBAY_DATA_DIR", default_value = "./hookbay-data")]
    pub data_dir: std::path::PathBuf,

    /// Treat HOOKBAY_REDIS_URL as a Redis Cluster even when it names one
    /// seed node (a list of several always means a cluster).
    #[arg(long, env = "HOOKBAY_REDIS_CLUSTER", default_value_t = false)]
    pub redis_cluster: bool,

    /// Number of multiplexed Redis connections this node opens for commands
    /// (plus one for notifications). Consumers never hold one while waiting.
    #[arg(long, env = "HOOKBAY_REDIS_POOL_SIZE", default_value_t = 4)]
    pub redis_pool_size: usize,

    /// Operator credential for `/v1/tenants` (at least 16 characters).
    /// Unset: the operator API answers 401 and a warning is logged.
    #[arg(long, env = "HOOKBAY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Key that signs tenant tokens and lease tokens; every node of a
    /// deployment must share it. Unset: one is generated once and kept in
    /// the store (a warning says so).
    #[arg(long, env = "HOOKBAY_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// The previous signing key during a key rotation: tokens signed with it
    /// are still accepted; everything new is signed with HOOKBAY_SECRET_KEY.
    #[arg(long, env = "HOOKBAY_SECRET_KEY_PREVIOUS", hide_env_values = true)]
    pub secret_key_previous: Option<String>,

    /// Log filter (tracing `EnvFilter` syntax). Access logs are the
    /// `hookbay::access` target (off at the default filter).
    #[arg(long, env = "HOOKBAY_LOG", default_value = "info,hookbay::access=warn")]
    pub log: String,

    /// Log format: `text` or `json`.
    #[arg(long, env = "HOOKBAY_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// HTTP worker threads (default: number of CPUs).
    #[arg(long, env = "HOOKBAY_WORKERS")]
    pub workers: Option<usize>,

    /// Upper bound for one ingest's Redis write, in milliseconds; past it the
    /// provider gets 503 + Retry-After instead of waiting.
    #[arg(long, env = "HOOKBAY_INGEST_TIMEOUT_MS", default_value_t = 800)]
    pub ingest_timeout_ms: u64,

    /// Largest request header section accepted (names + values), in bytes;
    /// larger requests get 431 before anything is read or stored.
    #[arg(long, env = "HOOKBAY_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// Accept backlog of the listening socket: connections the kernel holds
    /// while the relay accepts (a reconnect storm of thousands of SSE
    /// clients after a restart). The kernel caps it at
    /// net.core.somaxconn.
    #[arg(long, env = "HOOKBAY_LISTEN_BACKLOG", default_value_t = 16 * 1024)]
    pub listen_backlog: u32,

    /// Default max sources per tenant.
    #[arg(long, env = "HOOKBAY_LIMIT_MAX_SOURCES", default_value_t = 100)]
    pub limit_max_sources: u64,

    /// Default max queues per tenant.
    #[arg(long, env = "HOOKBAY_LIMIT_MAX_QUEUES", default_value_t = 1000)]
    pub limit_max_queues: u64,

    /// Default max stored bytes per tenant (messages within retention).
    #[arg(long, env = "HOOKBAY_LIMIT_MAX_STORED_BYTES", default_value_t = 10 << 30)]
    pub limit_max_stored_bytes: u64,

    /// Default sustained ingest rate per tenant, requests/second (2 s burst).
    #[arg(long, env = "HOOKBAY_LIMIT_INGEST_PER_SECOND", default_value_t = 1000)]
    pub limit_ingest_per_second: u64,

    /// Default sustained consumer API rate per tenant, requests/second.
    #[arg(long, env = "HOOKBAY_LIMIT_CONSUME_PER_SECOND", default_value_t = 2000)]
    pub limit_consume_per_second: u64,

    /// Seconds between the background reaper's passes (due redeliveries,
    /// expired leases, retention).
    #[arg(long, env = "HOOKBAY_REAP_INTERVAL_MS", default_value_t = 500)]
    pub reap_interval_ms: u64,
}

/// A configuration value that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// The validated, ready-to-use form of [`Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Public base URL without a trailing slash.
    pub public_url: String,
    pub backend: Backend,
    pub admin_token: Option<String>,
    pub secret_key: Option<String>,
    pub secret_key_previous: Option<String>,
    pub limits: crate::model::Limits,
    pub workers: usize,
    pub ingest_timeout: Duration,
    pub reap_interval: Duration,
    pub max_header_bytes: usize,
    pub listen_backlog: u32,
}

/// Where the relay keeps its state.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// Redis streams: one Redis, or a Redis Cluster when `cluster`.
    Redis {
        urls: Vec<String>,
        cluster: bool,
        pool_size: usize,
    },
    /// The embedded store in this directory.
    Embedded { dir: std::path::PathBuf },
}

impl Config {
    /// A config with every default on the embedded store in `dir`.
    pub fn for_embedded(dir: &std::path::Path) -> Self {
        let mut c = Config::for_redis("");
        c.data_dir = dir.into();
        c
    }

    /// A config with every default, for tests and embedding.
    pub fn for_redis(redis_url: &str) -> Self {
        Config {
            config: None,
            listen: "127.0.0.1:0".into(),
            public_url: None,
            redis_url: redis_url.into(),
            data_dir: "./hookbay-data".into(),
            redis_cluster: false,
            redis_pool_size: 4,
            admin_token: None,
            secret_key: None,
            secret_key_previous: None,
            log: "info".into(),
            log_format: "text".into(),
            workers: Some(2),
            ingest_timeout_ms: 800,
            max_header_bytes: 16 * 1024,
            listen_backlog: 16 * 1024,
            limit_max_sources: 100,
            limit_max_queues: 1000,
            limit_max_stored_bytes: 10 << 30,
            limit_ingest_per_second: 1000,
            limit_consume_per_second: 2000,
            reap_interval_ms: 500,
        }
    }

    /// Check every value and derive the defaults that depend on others.
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            ConfigError(format!(
                "HOOKBAY_LISTEN must be host:port like 127.0.0.1:8080, got {:?}",
                self.listen
            ))
        })?;
        let public_url = match &self.public_url {
            Some(u) => {
                let parsed = url::Url::parse(u).map_err(|e| {
                    ConfigError(format!("HOOKBAY_PUBLIC_URL is not a URL ({e}): {u:?}"))
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(ConfigError("HOOKBAY_PUBLIC_URL must be http(s)".into()));
                }
                u.trim_end_matches('/').to_string()
            }
            None => format!("http://{listen}"),
        };
        let backend = self.backend()?;
        if let Some(t) = &self.admin_token {
            if t.len() < 16 {
                return Err(ConfigError(
                    "HOOKBAY_ADMIN_TOKEN must be at least 16 characters".into(),
                ));
            }
        }
        if let Some(k) = &self.secret_key {
            if k.len() < 32 {
                return Err(ConfigError(
                    "HOOKBAY_SECRET_KEY must be at least 32 characters".into(),
                ));
            }
        }
        if self.secret_key_previous.is_some() && self.secret_key.is_none() {
            return Err(ConfigError(
                "HOOKBAY_SECRET_KEY_PREVIOUS needs HOOKBAY_SECRET_KEY (the new key)".into(),
            ));
        }
        let limits = crate::model::Limits {
            max_sources: self.limit_max_sources,
            max_queues: self.limit_max_queues,
            max_stored_bytes: self.limit_max_stored_bytes,
            ingest_per_second: self.limit_ingest_per_second,
            consume_per_second: self.limit_consume_per_second,
        };
        crate::model::LimitOverrides {
            max_sources: Some(limits.max_sources),
            max_queues: Some(limits.max_queues),
            max_stored_bytes: Some(limits.max_stored_bytes),
            ingest_per_second: Some(limits.ingest_per_second),
            consume_per_second: Some(limits.consume_per_second),
        }
        .validate()
        .map_err(|e| ConfigError(format!("HOOKBAY_LIMIT_*: {e}")))?;
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError(
                "HOOKBAY_LOG_FORMAT must be text or json".into(),
            ));
        }
        if !(1024..=1 << 20).contains(&self.max_header_bytes) {
            return Err(ConfigError(
                "HOOKBAY_MAX_HEADER_BYTES must be 1024..=1048576".into(),
            ));
        }
        if !(16..=1 << 20).contains(&self.listen_backlog) {
            return Err(ConfigError(
                "HOOKBAY_LISTEN_BACKLOG must be 16..=1048576".into(),
            ));
        }
        if !(50..=30_000).contains(&self.ingest_timeout_ms) {
            return Err(ConfigError(
                "HOOKBAY_INGEST_TIMEOUT_MS must be 50..=30000".into(),
            ));
        }
        if !(50..=60_000).contains(&self.reap_interval_ms) {
            return Err(ConfigError(
                "HOOKBAY_REAP_INTERVAL_MS must be 50..=60000".into(),
            ));
        }
        let workers = self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        Ok(Settings {
            listen,
            public_url,
            backend,
            admin_token: self.admin_token.clone(),
            secret_key: self.secret_key.clone(),
            secret_key_previous: self.secret_key_previous.clone(),
            limits,
            workers: workers.max(1),
            ingest_timeout: Duration::from_millis(self.ingest_timeout_ms),
            reap_interval: Duration::from_millis(self.reap_interval_ms),
            max_header_bytes: self.max_header_bytes,
            listen_backlog: self.listen_backlog,
        })
    }
}

impl Config {
    /// Redis when HOOKBAY_REDIS_URL is set, else the embedded store.
    fn backend(&self) -> Result<Backend, ConfigError> {
        if self.redis_url.trim().is_empty() {
            if self.data_dir.as_os_str().is_empty() {
                return Err(ConfigError("HOOKBAY_DATA_DIR must not be empty".into()));
            }
            return Ok(Backend::Embedded {
                dir: self.data_dir.clone(),
            });
        }
        let urls: Vec<String> = self
            .redis_url
            .split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect();
        let scheme_ok = |u: &String| {
            u.starts_with("redis://") || u.starts_with("rediss://") || u.starts_with("unix://")
        };
        if urls.is_empty() || !urls.iter().all(scheme_ok) {
            return Err(ConfigError(
                "HOOKBAY_REDIS_URL must be redis://, rediss:// or unix:// URL(s), \
                 comma-separated for a cluster"
                    .into(),
            ));
        }
        if !(1..=64).contains(&self.redis_pool_size) {
            return Err(ConfigError("HOOKBAY_REDIS_POOL_SIZE must be 1..=64".into()));
        }
        Ok(Backend::Redis {
            cluster: self.redis_cluster || urls.len() > 1,
            urls,
            pool_size: self.redis_pool_size,
        })
    }
}

/// Every environment variable `hookbay serve` reads (from the flags).
pub fn known_variables() -> Vec<String> {
    let cmd = <Config as Args>::augment_args(clap::Command::new("serve"));
    cmd.get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect()
}

/// Parse a config file of `HOOKBAY_*=value` lines (`#` comments, optional
/// quotes). Unknown names are an error, so a typo never goes unnoticed.
pub fn parse_file(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let known = known_variables();
    let mut out = vec![];
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| ConfigError(format!("config line {}: expected NAME=value", n + 1)))?;
        let k = k.trim();
        if !known.iter().any(|x| x == k) || k == "HOOKBAY_CONFIG" {
            return Err(ConfigError(format!(
                "config line {}: unknown variable {k}",
                n + 1
            )));
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v);
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_mirror_the_environment() {
        let vars = parse_file(
            "# comment\nHOOKBAY_LISTEN=0.0.0.0:9000\nexport HOOKBAY_LOG=\"debug\"\n\nHOOKBAY_REDIS_URL='redis://x:1'\n",
        )
        .unwrap();
        assert_eq!(
            vars,
            vec![
                ("HOOKBAY_LISTEN".into(), "0.0.0.0:9000".into()),
                ("HOOKBAY_LOG".into(), "debug".into()),
                ("HOOKBAY_REDIS_URL".into(), "redis://x:1".into()),
            ]
        );
        let e = parse_file("HOOKBAY_LISTN=1").unwrap_err().to_string();
        assert!(e.contains("unknown variable HOOKBAY_LISTN"), "{e}");
        assert!(parse_file("garbage").is_err());
        assert!(known_variables().contains(&"HOOKBAY_SECRET_KEY_PREVIOUS".to_string()));
    }

    #[test]
    fn defaults_validate_and_public_url_follows_listen() {
        let c = Config::for_redis("redis://redis.example.invalid:6390");
        let s = c.validate().unwrap();
        assert_eq!(s.public_url, "http://127.0.0.1:0");
    }

    #[test]
    fn no_redis_url_means_the_embedded_store_never_a_default_redis() {
        let c = Config::for_redis("");
        assert_eq!(
            c.validate().unwrap().backend,
            Backend::Embedded {
                dir: "./hookbay-data".into()
            }
        );
        let c = Config::for_redis("redis://a:1,redis://b:2");
        assert!(matches!(
            c.validate().unwrap().backend,
            Backend::Redis { cluster: true, .. }
        ));
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = Config::for_redis("redis://x");
        c.listen = "nope".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("HOOKBAY_LISTEN"));
        let mut c = Config::for_redis("http://x");
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("HOOKBAY_REDIS_URL"));
        c.redis_url = "redis://x".into();
        c.admin_token = Some("short".into());
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("HOOKBAY_ADMIN_TOKEN"));
        c.admin_token = None;
        c.public_url = Some("ftp://x".into());
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("HOOKBAY_PUBLIC_URL"));
        c.public_url = Some("https://relay.example.com/".into());
        assert_eq!(
            c.validate().unwrap().public_url,
            "https://relay.example.com"
        );
    }
}
