-- Audited writes without a shared row: a write appends its entry (and a row in audit_pending) in its own
-- transaction, and one sealer at a time (src/modules/audit/sealer.ts) chains committed entries shortly after
-- they commit. The chain moves to its own table, so audit_log is insert-only and a seal never rewrites an entry:
-- audit_chain.position is the entry's place in the chain (not its id), hash = SHA-256 over prev_hash and the
-- entry's canonical JSON, exactly as before.
--
-- Existing entries stay chained as they were: their id was their position, and their links are copied, so the
-- first entry sealed after this migration links to the last one chained before it and verification runs across.

CREATE TABLE audit_chain (
  position  bigint PRIMARY KEY CHECK (position > 0),
  entry_id  integer NOT NULL UNIQUE,
  prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash      bytea NOT NULL CHECK (length(hash) = 32),
  sealed_at timestamptz(3) NOT NULL DEFAULT now()
);

INSERT INTO audit_chain (position, entry_id, prev_hash, hash, sealed_at)
SELECT id, id, prev_hash, hash, occurred_at FROM audit_log;

ALTER TABLE audit_log DROP COLUMN prev_hash, DROP COLUMN hash;

-- Entry ids now come from a sequence (gaps where a transaction rolled back are fine: the chain has its own positions).
CREATE SEQUENCE audit_log_id_seq AS integer OWNED BY audit_log.id;
SELECT setval('audit_log_id_seq', greatest(n, 1), n >= 1)
  FROM (SELECT greatest((SELECT last_id FROM audit_chain_head), (SELECT coalesce(max(id), 0) FROM audit_log)) AS n) s;
ALTER TABLE audit_log ALTER COLUMN id SET DEFAULT nextval('audit_log_id_seq');

-- The head is the last sealed link; only the sealer writes it.
ALTER TABLE audit_chain_head RENAME COLUMN last_id TO last_position;
ALTER TABLE audit_chain_head ALTER COLUMN last_position TYPE bigint;

-- Committed entries not sealed yet, written in the same statement as the entry: the sealer's work queue.
CREATE TABLE audit_pending (
  entry_id integer PRIMARY KEY
);
