-- Change events: the feed of GET /api/v1/events and the source of webhook deliveries.
--
-- A change's audit entry is written in the change's own transaction (migration 003). The sealer, which gives
-- committed entries their gap-free chain position in commit order, copies each sealed catalog entry into `events`
-- in the same seal transaction, under that position. So the feed, ordered by position, never skips a transaction
-- that committed late, and an event exists exactly when its change committed. Events are a copy (not a view of
-- audit_log) so that their retention (EVENT_RETENTION_DAYS) is independent of the audit trail's.

-- Keys that may read the feed and nothing else.
ALTER TYPE api_key_role ADD VALUE IF NOT EXISTS 'events';

CREATE TABLE events (
  position       bigint PRIMARY KEY CHECK (position > 0),
  entry_id       integer NOT NULL,
  occurred_at    timestamptz(3) NOT NULL,
  type           text NOT NULL,
  entity_type    text NOT NULL,
  entity_id      integer NOT NULL,
  data           jsonb,
  changed_fields text[] NOT NULL,
  request_id     text,
  actor          jsonb NOT NULL
);
-- The feed filtered by type reads this index in position order.
CREATE INDEX events_type_idx ON events (type, position);

-- Positions up to `pruned_through` were removed by retention (or precede this migration): a cursor before it
-- answers 410. Existing entries are not copied: the feed starts with the first change after this migration.
CREATE TABLE events_horizon (
  singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  pruned_through bigint NOT NULL
);
INSERT INTO events_horizon (pruned_through) SELECT last_position FROM audit_chain_head;

-- Webhook subscriptions. `secret` signs deliveries (Standard Webhooks); after a rotation `previous_secret` signs
-- too until `previous_secret_expires_at`. A subscription receives the events sealed after it was created.
CREATE TABLE webhooks (
  id                         serial PRIMARY KEY,
  url                        text NOT NULL,
  event_types                text[] NOT NULL,
  description                text,
  status                     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'disabled')),
  disabled_reason            text,
  secret                     text NOT NULL,
  previous_secret            text,
  previous_secret_expires_at timestamptz(3),
  created_at                 timestamptz(3) NOT NULL DEFAULT now(),
  updated_at                 timestamptz(3) NOT NULL DEFAULT now()
);

-- One row per (subscription, event): written by the sealer in the transaction that creates the event, so no
-- event is ever missed; `event` is the payload as sent (it outlives the event's retention). A worker leases a due
-- row (FOR UPDATE SKIP LOCKED, `leased_until`); a process that dies mid-delivery leaves the lease to expire.
CREATE TABLE webhook_deliveries (
  id              bigserial PRIMARY KEY,
  webhook_id      integer NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_position  bigint NOT NULL,
  event_type      text NOT NULL,
  entity_key      text NOT NULL,
  event           jsonb NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz(3) NOT NULL DEFAULT now(),
  leased_until    timestamptz(3),
  created_at      timestamptz(3) NOT NULL DEFAULT now(),
  delivered_at    timestamptz(3),
  UNIQUE (webhook_id, event_position)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
-- Per subscription and entity, only the oldest pending delivery is due (commit order per entity).
CREATE INDEX webhook_deliveries_entity_idx ON webhook_deliveries (webhook_id, entity_key, event_position)
  WHERE status = 'pending';
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (webhook_id, id DESC);

CREATE TABLE webhook_attempts (
  id            bigserial PRIMARY KEY,
  delivery_id   bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempted_at  timestamptz(3) NOT NULL DEFAULT now(),
  duration_ms   integer NOT NULL,
  outcome       text NOT NULL CHECK (outcome IN ('delivered', 'http_error', 'timeout', 'network_error', 'refused')),
  response_code integer,
  response_body text,
  error         text
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
