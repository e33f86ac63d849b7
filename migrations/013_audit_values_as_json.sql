-- An audit entry's values are kept as json (their text, checked to be JSON) instead of jsonb. Nothing queries
-- inside them: they are written once, read back whole (the sealer, GET /audit-logs, the verifier) and hashed in
-- their canonical form (keys sorted, src/writes/audit-chain.ts), which does not depend on how they are stored, so
-- entries sealed before this migration verify as before. jsonb's input builds and sorts a tree of every value: a
-- bulk import's batch of 500 products sends about 1 MB of entries, which took ~27 ms of PostgreSQL's time to read
-- into jsonb and takes ~2 ms as json (docs/architecture.md, bulk import).
--
-- The table is rewritten once, under an exclusive lock: writes wait for it (100,000 entries of ~1.9 kB in 3.5 s).
ALTER TABLE audit_log ALTER COLUMN old_values TYPE json USING old_values::json,
                      ALTER COLUMN new_values TYPE json USING new_values::json;

-- Values over ~2 kB (a product with its variants) are compressed: with lz4 where the server has it, several times
-- faster than the default pglz. Existing values keep their compression.
DO $$
BEGIN
  ALTER TABLE audit_log ALTER COLUMN old_values SET COMPRESSION lz4, ALTER COLUMN new_values SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'lz4 is not available: audit values stay compressed with pglz';
END
$$;
