//! Assembling the relay: open the store (the embedded one, or Redis),
//! derive keys, start the notification hub and the reaper, and serve HTTP. `start` is used by the
//! binary and by the integration tests alike (bound to port 0 there).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};

use crate::auth::{Keys, Revocations};
use crate::config::{Backend, Config, ConfigError};
use crate::http;
use crate::notify::{Notifier, StreamRegistry};
use crate::state::{AppState, TtlCache};
use crate::store::embedded::{EmbeddedStore, OpenError};
use crate::store::redis::RedisStore;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot bind {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("store: {0}")]
    Store(String),
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// A running relay.
pub struct Running {
    pub addr: SocketAddr,
    pub state: web::Data<AppState>,
    pub handle: actix_web::dev::ServerHandle,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// background work (reaper, revocation refresh, failure-count flusher)
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop serving and let go of the store (an embedded store's data dir
    /// is free again when this returns, unless other handles remain).
    pub async fn stop(self) {
        // streams close first (their clients reconnect elsewhere), so the
        // graceful stop does not wait out its timeout for them
        self.state.stopping.send_replace(true);
        self.handle.stop(true).await;
        let _ = self.server.await;
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        // counts not flushed yet would be lost with the process
        self.state.verify_failures.flush(&self.state.store).await;
        // streams end on their own once their connection is gone: give them
        // a moment to let go of the state (and with it the store)
        let state = self.state.into_inner();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&state) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Connect to Redis, retrying until it answers.
async fn connect(urls: &[String], cluster: bool, pool_size: usize, workers: usize) -> RedisStore {
    let mut delay = Duration::from_millis(200);
    loop {
        match RedisStore::connect(urls, cluster, pool_size, workers).await {
            Ok(s) => return s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach redis yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Open the embedded store in `dir` off the async runtime (it touches the
/// disk and may recover a WAL).
async fn open_embedded(
    dir: &std::path::Path,
    notifier: Notifier,
) -> Result<EmbeddedStore, StartError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || EmbeddedStore::open(&dir, notifier))
        .await
        .map_err(|e| StartError::Store(e.to_string()))?
        .map_err(StartError::from)
}

/// Open the configured store and the wake-up hub that goes with it.
/// `workers`: the HTTP worker threads that will each ask for a connection
/// of their own.
async fn open(backend: &Backend, workers: usize) -> Result<(Store, Notifier), StartError> {
    Ok(match backend {
        Backend::Redis {
            urls,
            cluster,
            pool_size,
        } => {
            let store = connect(urls, *cluster, *pool_size, workers).await;
            let notifier = Notifier::start(store.client().clone());
            tracing::info!(nodes = urls.len(), cluster, "store: redis");
            (Store::Redis(store), notifier)
        }
        Backend::Embedded { dir } => {
            let notifier = Notifier::local();
            let store = open_embedded(dir, notifier.clone()).await?;
            let path = std::fs::canonicalize(store.dir()).unwrap_or_else(|_| store.dir().into());
            tracing::info!(dir = %path.display(), "store: embedded (SQLite)");
            (Store::Embedded(store), notifier)
        }
    })
}

/// Open the configured store for a one-off job (export, import): no
/// relay, no retries — an unreachable Redis or a data dir in use by a
/// running relay is an error at once.
pub async fn open_store(cfg: &Config) -> Result<Store, StartError> {
    let settings = cfg.validate()?;
    Ok(match &settings.backend {
        Backend::Redis {
            urls,
            cluster,
            pool_size,
        } => Store::Redis(
            RedisStore::connect(urls, *cluster, *pool_size, 0)
                .await
                .map_err(|e| StartError::Store(e.to_string()))?,
        ),
        Backend::Embedded { dir } => Store::Embedded(open_embedded(dir, Notifier::local()).await?),
    })
}

/// Start the relay; with Redis, waits for it to be reachable first.
pub async fn start(cfg: &Config) -> Result<Running, StartError> {
    crate::metrics::install();
    let mut settings = cfg.validate()?;
    if settings.admin_token.is_none() {
        tracing::warn!(
            "HOOKBAY_ADMIN_TOKEN is not set: the operator API (/v1/tenants) is disabled"
        );
    }
    let (store, notifier) = open(&settings.backend, settings.workers).await?;
    let secret = match &settings.secret_key {
        Some(k) => k.clone(),
        None => {
            let fresh = format!("{}{}", crate::ids::ingest_key(), crate::ids::ingest_key());
            let k = store
                .secret_key(&fresh)
                .await
                .map_err(|e| StartError::Store(e.to_string()))?;
            tracing::warn!(
                "HOOKBAY_SECRET_KEY is not set: using a key generated once and kept in the \
                 store; set it explicitly in production"
            );
            k
        }
    };
    let keys = Keys::rotating(
        &secret,
        settings.secret_key_previous.as_deref(),
        settings.admin_token.as_deref(),
    );
    let revocations = Arc::new(Revocations::default());
    let mut tasks = vec![revocations.start(store.clone()).await];

    let listener = listen(settings.listen, settings.listen_backlog)
        .map_err(|e| StartError::Bind(settings.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind(settings.listen, e))?;
    if cfg.public_url.is_none() {
        settings.public_url = format!("http://{addr}");
    }
    let workers = settings.workers;
    let reap_every = settings.reap_interval;
    let state = web::Data::new(AppState {
        store,
        notifier,
        keys,
        settings,
        sources: TtlCache::default(),
        queues: TtlCache::default(),
        routes: TtlCache::default(),
        tenants: TtlCache::default(),
        usage: TtlCache::default(),
        streams: StreamRegistry::default(),
        revocations,
        rates: Default::default(),
        verify_failures: Default::default(),
        stopping: tokio::sync::watch::Sender::new(false),
    });
    tasks.push(state.verify_failures.spawn_flusher(state.store.clone()));
    tasks.push(crate::reaper::spawn(state.store.clone(), reap_every));

    let data = state.clone();
    let server = HttpServer::new(move || {
        if let crate::store::Store::Redis(r) = &data.store {
            r.attach_worker();
        }
        App::new()
            .wrap(actix_web::middleware::from_fn(http::guard::problem_errors))
            .wrap(actix_web::middleware::from_fn(http::guard::header_limit))
            .wrap(actix_web::middleware::from_fn(http::access::log))
            // browsers may stream (EventSource + access_token) and settle
            // (capability URLs); no cookies are ever used, so any origin
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add(("Access-Control-Allow-Origin", "*")),
            )
            .app_data(data.clone())
            .app_data(http::query_config())
            .service(utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url(
                "/openapi.json",
                <http::openapi::ApiDoc as utoipa::OpenApi>::openapi(),
            ))
            .route("/docs", web::get().to(http::docs_redirect))
            .configure(http::routes)
    })
    .workers(workers)
    // a client that closes its side has gone: end its long poll or stream
    // at once (no lease for a poll nobody reads; a closed stream's task and
    // keep-alives stop now, not after two failed writes)
    .h1_allow_half_closed(false)
    // small writes (SSE events, 204s) must not wait for Nagle + delayed ACK
    .on_connect(|conn, _| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = tcp.set_nodelay(true);
        }
    })
    .shutdown_timeout(5)
    .listen(listener)
    .map_err(|e| StartError::Bind(addr, e))?
    .run();
    let handle = server.handle();
    let server = tokio::spawn(server);
    tracing::info!(%addr, public_url = %state.settings.public_url, "hookbay relay listening");
    Ok(Running {
        addr,
        state,
        handle,
        server,
        tasks,
    })
}

/// The listening socket, with the configured accept backlog (the standard
/// library's `bind` fixes it at 128: a reconnect storm of thousands of SSE
/// clients would see dropped SYNs and retry for seconds).
fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog.min(i32::MAX as u32) as i32)?;
    if let Some(cap) = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|cap| *cap < backlog)
    {
        tracing::info!(
            requested = backlog,
            kernel_cap = cap,
            "accept backlog capped by net.core.somaxconn"
        );
    }
    Ok(s.into())
}
