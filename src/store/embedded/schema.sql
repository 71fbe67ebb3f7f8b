-- hookbay embedded store schema (SQLite). Applied at every open; every
-- statement is idempotent. Engine tables use integer keys (sn = source
-- number, qn = queue number, msg = message rowid); the public ids live in
-- the catalog columns.
--
-- Columns added later are also in `ADDED_COLUMNS` (mod.rs), which adds
-- them to a store created by an older version.
--
-- deliveries.state: 0 ready, 1 delayed, 2 leased, 3 acked, 4 dead.
-- deliveries.k orders a queue's deliveries within a state: ready = FIFO
-- rank, delayed = due ms, leased = lease expiry ms, dead = dead-lettered at
-- ms, acked = 0.

CREATE TABLE IF NOT EXISTS meta (
  k TEXT PRIMARY KEY,
  v TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tenants (
  id TEXT PRIMARY KEY,
  rec TEXT NOT NULL              -- tenant record JSON
) WITHOUT ROWID;

-- a tenant's sets of ids: kind = sources | queues | tokens (quota checks
-- reserve here before the record exists)
CREATE TABLE IF NOT EXISTS members (
  tenant_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (tenant_id, kind, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  rec TEXT NOT NULL              -- token record JSON (never the token itself)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS revoked (
  id TEXT PRIMARY KEY,
  until INTEGER NOT NULL         -- unix seconds when the token expires anyway
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS sources (
  sn INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  ingest_key TEXT NOT NULL UNIQUE,
  rec TEXT NOT NULL,             -- source record JSON
  retention_ms INTEGER NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0,
  verify_failures INTEGER NOT NULL DEFAULT 0,
  last_ms INTEGER NOT NULL DEFAULT 0,   -- last stream id issued (ms-seq)
  last_seq INTEGER NOT NULL DEFAULT 0,
  rv INTEGER NOT NULL DEFAULT 0         -- routing version: bumped when a
                                        -- queue is attached, changed, removed
);

CREATE TABLE IF NOT EXISTS queues (
  qn INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  sn INTEGER NOT NULL,
  rec TEXT NOT NULL,             -- queue record JSON
  lease_ms INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  init_ms REAL NOT NULL,
  mult REAL NOT NULL,
  cap_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queues_by_source ON queues (sn);

CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY,
  sn INTEGER NOT NULL,
  ms INTEGER NOT NULL,           -- stream id "<ms>-<seq>"
  seq INTEGER NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  query TEXT NOT NULL,
  headers TEXT NOT NULL,         -- JSON [[name, value], ...]
  content_type TEXT,
  body BLOB NOT NULL,
  verified INTEGER NOT NULL,
  scheme TEXT NOT NULL,
  dedupe_key TEXT,
  size INTEGER NOT NULL,         -- counted against the tenant's quota
  event_type TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_sid ON messages (sn, ms, seq);

CREATE TABLE IF NOT EXISTS dedupe (
  sn INTEGER NOT NULL,
  digest TEXT NOT NULL,
  ms INTEGER NOT NULL,           -- the first message's stream id
  seq INTEGER NOT NULL,
  expires INTEGER NOT NULL,      -- ms
  PRIMARY KEY (sn, digest)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS deliveries (
  msg INTEGER NOT NULL,
  qn INTEGER NOT NULL,
  state INTEGER NOT NULL,
  k INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  gen INTEGER NOT NULL DEFAULT 0,
  replayed INTEGER NOT NULL DEFAULT 0,
  lease_exp INTEGER,
  due INTEGER,
  dead_reason TEXT,
  dead_at INTEGER,
  history TEXT,                  -- JSON [{n, l, o, r, t}], newest last
  PRIMARY KEY (msg, qn)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries (qn, state, k);

-- deleted sources (kind 1, n = sn: messages, dedupe keys) and queues
-- (kind 0, n = qn: delivery states) whose rows are still being removed, a
-- chunk at a time (purge.rs); their numbers are not reused meanwhile
CREATE TABLE IF NOT EXISTS purges (
  kind INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (kind, n)
) WITHOUT ROWID;

INSERT OR IGNORE INTO meta (k, v) VALUES ('schema', '1');
