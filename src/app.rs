//! Assembling the relay: connect to Redis, derive keys, start the
//! notification hub and the reaper, and serve HTTP. `start` is used by the
//! binary and by the integration tests alike (bound to port 0 there).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};

use crate::auth::{Keys, Revocations};
use crate::config::{Config, ConfigError, Settings};
use crate::http;
use crate::notify::{Notifier, StreamRegistry};
use crate::state::{AppState, TtlCache};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot bind {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("redis: {0}")]
    Redis(String),
}

/// A running relay.
pub struct Running {
    pub addr: SocketAddr,
    pub state: web::Data<AppState>,
    pub handle: actix_web::dev::ServerHandle,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn connect(settings: &Settings) -> Store {
    let mut delay = Duration::from_millis(200);
    loop {
        match Store::connect(
            &settings.redis_urls,
            settings.redis_cluster,
            settings.redis_pool_size,
        )
        .await
        {
            Ok(s) => return s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach redis yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Start the relay; waits for Redis to be reachable first.
pub async fn start(cfg: &Config) -> Result<Running, StartError> {
    crate::metrics::install();
    let mut settings = cfg.validate()?;
    if settings.admin_token.is_none() {
        tracing::warn!(
            "HOOKBAY_ADMIN_TOKEN is not set: the operator API (/v1/tenants) is disabled"
        );
    }
    let store = connect(&settings).await;
    let secret = match &settings.secret_key {
        Some(k) => k.clone(),
        None => {
            let fresh = format!("{}{}", crate::ids::ingest_key(), crate::ids::ingest_key());
            let k = store
                .secret_key(&fresh)
                .await
                .map_err(|e| StartError::Redis(e.to_string()))?;
            tracing::warn!(
                "HOOKBAY_SECRET_KEY is not set: using a key generated once and kept in Redis; \
                 set it explicitly in production"
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
    revocations.start(store.clone()).await;
    let notifier = Notifier::start(store.client().clone());

    let listener = std::net::TcpListener::bind(settings.listen)
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
        tenants: TtlCache::default(),
        usage: TtlCache::default(),
        streams: StreamRegistry::default(),
        revocations,
        rates: Default::default(),
        verify_failures: Default::default(),
    });
    state.verify_failures.spawn_flusher(state.store.clone());
    crate::reaper::spawn(state.store.clone(), reap_every);

    let data = state.clone();
    let server = HttpServer::new(move || {
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
    })
}
