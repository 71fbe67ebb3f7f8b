//! Redis key layout, in one place. Everything that one atomic engine step
//! touches lives under the source's hash tag `hb:{src_…}:`, so every Lua
//! script stays in one Redis Cluster slot; catalog records (tenants, sources,
//! queues, tokens) have their own keys and are never part of an engine step.
//!
//! ```text
//! hb:{S}:src              hash   source marker (retention_ms); gone = deleted
//! hb:{S}:log              stream the source's messages, byte-exact
//! hb:{S}:queues           set    queue ids attached to the source (fan-out)
//! hb:{S}:qp               hash   queue id -> engine policy "leaseMs maxAttempts
//!                                initialMs multiplier maxMs since"
//! hb:{S}:trim             string retention scan cursor
//! hb:{S}:dd:<digest>      string dedupe key -> first stream id (EX window)
//! hb:{S}:q:<Q>:ready      list   stream ids ready for delivery (FIFO)
//! hb:{S}:q:<Q>:delayed    zset   stream ids waiting for redelivery (score: due ms)
//! hb:{S}:q:<Q>:leased     zset   leased stream ids (score: lease expiry ms)
//! hb:{S}:q:<Q>:dead       zset   dead letters (score: dead-lettered at ms)
//! hb:{S}:q:<Q>:st         hash   stream id -> delivery state JSON (absent until
//!                                first leased: then fresh and ready)
//! hb:tenant:<T>           string tenant record JSON
//! hb:tenants              set    tenant ids
//! hb:tenant:<T>:sources   set    the tenant's source ids (also :queues, :tokens)
//! hb:source:<S>           string source record JSON
//! hb:sources              set    every source id (the reaper walks it)
//! hb:ingest:<key>         string ingest key -> source id
//! hb:queue:<Q>            string queue record JSON
//! hb:token:<id>           string token record JSON
//! hb:secret               string generated signing key (when none configured)
//! hb:revoked              zset   revoked token ids (score: when the token
//!                                would expire anyway; trimmed past it)
//! hb:rate:<T>:<kind>      hash   token bucket of a tenant's ingest/consume rate
//! hb:reaper               string which node reaps this interval (SET NX PX)
//! ```
//! Wake-ups are published on channel `hookbay:wake:<S>` as "<Q|*> <count>".

/// Keys of one source's engine state.
#[derive(Debug, Clone)]
pub struct SourceKeys {
    pub prefix: String,
    pub src: String,
    pub log: String,
    pub queues: String,
    pub qp: String,
    pub trim: String,
}

impl SourceKeys {
    pub fn new(source_id: &str) -> Self {
        let prefix = format!("hb:{{{source_id}}}:");
        SourceKeys {
            src: format!("{prefix}src"),
            log: format!("{prefix}log"),
            queues: format!("{prefix}queues"),
            qp: format!("{prefix}qp"),
            trim: format!("{prefix}trim"),
            prefix,
        }
    }

    pub fn queue(&self, queue_id: &str) -> QueueKeys {
        let b = format!("{}q:{queue_id}:", self.prefix);
        QueueKeys {
            ready: format!("{b}ready"),
            delayed: format!("{b}delayed"),
            leased: format!("{b}leased"),
            dead: format!("{b}dead"),
            st: format!("{b}st"),
        }
    }
}

/// Keys of one queue's delivery state (same hash tag as its source).
#[derive(Debug, Clone)]
pub struct QueueKeys {
    pub ready: String,
    pub delayed: String,
    pub leased: String,
    pub dead: String,
    pub st: String,
}

impl QueueKeys {
    pub fn all(&self) -> [&str; 5] {
        [
            &self.ready,
            &self.delayed,
            &self.leased,
            &self.dead,
            &self.st,
        ]
    }
}

pub const TENANTS: &str = "hb:tenants";
pub const SOURCES: &str = "hb:sources";
pub const SECRET: &str = "hb:secret";
pub const REVOKED: &str = "hb:revoked";
pub const REAPER: &str = "hb:reaper";

/// A tenant's token bucket for `kind` (`ingest`, `consume`).
pub fn rate(tenant_id: &str, kind: &str) -> String {
    format!("hb:rate:{tenant_id}:{kind}")
}

pub fn tenant(id: &str) -> String {
    format!("hb:tenant:{id}")
}
pub fn tenant_set(id: &str, kind: &str) -> String {
    format!("hb:tenant:{id}:{kind}")
}
pub fn source(id: &str) -> String {
    format!("hb:source:{id}")
}
pub fn ingest(key: &str) -> String {
    format!("hb:ingest:{key}")
}
pub fn queue(id: &str) -> String {
    format!("hb:queue:{id}")
}
pub fn token(id: &str) -> String {
    format!("hb:token:{id}")
}
pub fn wake_channel(source_id: &str) -> String {
    format!("hookbay:wake:{source_id}")
}
pub const WAKE_PREFIX: &str = "hookbay:wake:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_keys_share_one_hash_tag() {
        let k = SourceKeys::new("src_abc");
        let q = k.queue("q_1");
        let mut all = vec![&k.src, &k.log, &k.queues, &k.qp, &k.trim];
        all.extend([&q.ready, &q.delayed, &q.leased, &q.dead, &q.st]);
        for key in all {
            assert!(key.starts_with("hb:{src_abc}:"), "{key}");
        }
    }
}
