-- Bulk imports (POST /api/v1/imports): one row per import, its progress written after every committed batch. The
-- first 1,000 row errors are kept in `errors`; `error_count` counts them all. `committed_line` is the last line of
-- the last committed batch: an import whose instance stopped (no heartbeat for a minute) is reported failed after it.
CREATE TABLE imports (
  id             integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  status         text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
  format         text NOT NULL,
  dry_run        boolean NOT NULL,
  api_key_id     integer,
  rows           integer NOT NULL DEFAULT 0,
  variants       integer NOT NULL DEFAULT 0,
  created        integer NOT NULL DEFAULT 0,
  updated        integer NOT NULL DEFAULT 0,
  unchanged      integer NOT NULL DEFAULT 0,
  failed         integer NOT NULL DEFAULT 0,
  error_count    integer NOT NULL DEFAULT 0,
  errors         jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(errors) = 'array'),
  committed_line integer NOT NULL DEFAULT 0,
  failed_at_line integer,
  failure        text,
  started_at     timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
  heartbeat_at   timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
  finished_at    timestamptz(3)
);
