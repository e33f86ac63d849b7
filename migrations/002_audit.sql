-- The audit trail: one entry per create, update and delete, written in the same transaction as the change.
-- `id` is the entry's position in a hash chain (1, 2, 3 … without gaps): `hash` = SHA-256 over `prev_hash` and
-- the canonical JSON of the entry (src/modules/audit/chain.ts). Appends are serialised by the row lock on
-- audit_chain_head, which also remembers the last link after retention has removed old entries.
CREATE TABLE audit_log (
  id             integer PRIMARY KEY CHECK (id > 0),
  occurred_at    timestamptz(3) NOT NULL,
  action         text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
  entity_type    text NOT NULL CHECK (entity_type IN ('product', 'category', 'api_key')),
  entity_id      integer NOT NULL,
  actor_type     text NOT NULL CHECK (actor_type IN ('api_key', 'system')),
  actor_id       integer,
  actor_name     text NOT NULL,
  actor_role     text,
  ip             text,
  user_agent     text,
  request_id     text,
  old_values     jsonb,
  new_values     jsonb,
  changed_fields text[] NOT NULL,
  prev_hash      bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash           bytea NOT NULL CHECK (length(hash) = 32)
);

-- Newest first for every filter of GET /audit-logs: each filter column leads an index that continues in the
-- list's keyset order, so a page is an index range scan at any table size.
CREATE INDEX audit_log_time_idx ON audit_log (occurred_at DESC, id DESC);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, occurred_at DESC, id DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, occurred_at DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, occurred_at DESC, id DESC);
CREATE INDEX audit_log_request_idx ON audit_log (request_id, occurred_at DESC, id DESC);

CREATE TABLE audit_chain_head (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_id   integer NOT NULL DEFAULT 0,
  last_hash bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'
);
INSERT INTO audit_chain_head DEFAULT VALUES;

-- Idempotency-Key records (Stripe / draft-ietf-httpapi-idempotency-key-header): committed in the same
-- transaction as the change they answered, so a key is never claimed without its response.
CREATE TABLE idempotency_keys (
  api_key_id  integer NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
  key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  fingerprint bytea NOT NULL,
  status      smallint NOT NULL,
  body        jsonb NOT NULL,
  created_at  timestamptz(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (api_key_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
