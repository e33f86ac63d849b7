-- A write made with an API key checks, in its own transaction and before its first statement, that the key is
-- still active: the admission of writes then needs no round trip of its own, and a revocation still counts at once.
-- SQLSTATE CK401 is ours: the API answers it with 401.
CREATE FUNCTION api_key_must_be_active(key_id integer) RETURNS void LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM api_keys WHERE id = key_id AND revoked_at IS NULL) THEN
    RAISE EXCEPTION 'API key % is unknown or revoked', key_id USING ERRCODE = 'CK401';
  END IF;
END
$$;
