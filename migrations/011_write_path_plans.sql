-- Plans the write path's trigger functions keep, whatever the set of products they are given.
--
-- refresh_product_prices was a SQL function of two statements: PostgreSQL parses and plans such a function again
-- at every statement that calls it (about 0.4 ms, several times what it then runs), so every variant write paid it.
-- As PL/pgSQL its statements are planned once per connection.
--
-- Both functions take an array of product ids. With the default plan_cache_mode a statement with a parameter is
-- planned again for every call as long as the plan for any value looks costlier than one for the given values, and
-- an array parameter always does (its size is unknown). So each keeps one plan for any set (force_generic_plan).
--
-- A plan kept that long must not depend on the table sizes it was made at: a connection's first call may come when
-- the catalog is empty (a new shop, the first batch of an import), and a plan made then would join by hashing the
-- whole products table, every call, once it holds a million rows. So each product is reached from its id by a
-- lateral lookup that cannot be turned into a join of tables (OFFSET 0), and never by a sequential scan
-- (enable_seqscan = off): every table access here is by key, whatever the statistics say.
CREATE OR REPLACE FUNCTION refresh_product_prices(pids integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
BEGIN
  DELETE FROM product_prices WHERE product_id = ANY (pids);
  INSERT INTO product_prices (product_id, currency, min_cents, max_cents, status, category_id)
  SELECT pr.id, p->>'currency', min((p->>'amountCents')::integer), max((p->>'amountCents')::integer),
         pr.status, pr.category_id
    FROM unnest(pids) AS ids (id)
         CROSS JOIN LATERAL (SELECT pr.id, pr.status, pr.category_id FROM products pr WHERE pr.id = ids.id OFFSET 0) pr
         CROSS JOIN LATERAL (SELECT v.prices FROM product_variants v WHERE v.product_id = ids.id OFFSET 0) v
         CROSS JOIN LATERAL jsonb_array_elements(v.prices) p
   GROUP BY pr.id, p->>'currency', pr.status, pr.category_id;
END
$fn$;

-- The same documents as migration 010 builds, each product reached from its id (see above).
CREATE OR REPLACE FUNCTION product_documents_of(pids integer[]) RETURNS TABLE (product_id integer, doc text)
LANGUAGE plpgsql STABLE SET jit = off SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH ids AS (SELECT DISTINCT u.id FROM unnest(pids) AS u (id))
  SELECT p.id,
         '{"id":' || p.id
      || ',"name":' || to_json(p.name)::text
      || ',"slug":' || to_json(p.slug)::text
      || ',"description":' || to_json(p.description)::text
      || ',"categoryId":' || coalesce(p.category_id::text, 'null')
      || ',"status":"' || p.status::text
      || '","tags":' || array_to_json(p.tags)::text
      || ',"options":[' || coalesce((
           SELECT string_agg('{"name":' || to_json(o->>'name')::text || ',"values":'
                             || array_to_json(ARRAY(SELECT jsonb_array_elements_text(o->'values')))::text || '}',
                             ',' ORDER BY i)
             FROM jsonb_array_elements(p.options) WITH ORDINALITY AS x (o, i)), '')
      || '],"variants":[' || coalesce(vl.variants, '')
      || '],"media":[' || coalesce((
           SELECT string_agg(
                    '{"id":' || (m->'id')::text
                    || ',"url":' || to_json(m->>'url')::text
                    || ',"alt":' || to_json(coalesce(m->>'alt', ''))::text
                    || ',"width":' || coalesce(m->'width', 'null')::text
                    || ',"height":' || coalesce(m->'height', 'null')::text
                    || ',"variantIds":' || array_to_json(ARRAY(SELECT jsonb_array_elements_text(m->'variantIds')::integer))::text
                    || '}', ',' ORDER BY i)
             FROM jsonb_array_elements(p.media) WITH ORDINALITY AS x (m, i)), '')
      || '],"priceRange":{' || coalesce(pr.ranges, '')
      || '},"version":' || p.version
      || ',"createdAt":"' || to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      || '","updatedAt":"' || to_char(p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"}'
    FROM ids CROSS JOIN LATERAL (SELECT * FROM products p WHERE p.id = ids.id OFFSET 0) p
         -- Per product (an index scan of its variants), never a join over the whole variants table.
         CROSS JOIN LATERAL (
           SELECT string_agg(
               '{"id":' || v.id
               || ',"sku":' || to_json(v.sku)::text
               || ',"title":' || to_json(v.title)::text
               || ',"optionValues":' || array_to_json(v.option_values)::text
               || ',"prices":[' || coalesce((
                    SELECT string_agg('{"currency":' || to_json(e->>'currency')::text || ',"amountCents":'
                                      || (e->'amountCents')::text || '}', ',' ORDER BY i)
                      FROM jsonb_array_elements(v.prices) WITH ORDINALITY AS x (e, i)), '')
               || '],"compareAtPrices":' || CASE WHEN v.compare_at_prices IS NULL THEN 'null' ELSE '[' || coalesce((
                    SELECT string_agg('{"currency":' || to_json(e->>'currency')::text || ',"amountCents":'
                                      || (e->'amountCents')::text || '}', ',' ORDER BY i)
                      FROM jsonb_array_elements(v.compare_at_prices) WITH ORDINALITY AS x (e, i)), '') || ']' END
               || ',"stock":' || v.stock
               || ',"barcode":' || coalesce(to_json(v.barcode)::text, 'null')
               || ',"weightGrams":' || coalesce(v.weight_grams::text, 'null')
               || ',"position":' || v.position
               || ',"version":' || v.version
               || ',"createdAt":"' || to_char(v.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
               || '","updatedAt":"' || to_char(v.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
               || '"}', ',' ORDER BY v.position, v.id) AS variants
             FROM product_variants v WHERE v.product_id = p.id) vl
         CROSS JOIN LATERAL (
           SELECT string_agg(to_json(r.currency)::text || ':{"min":' || r.low || ',"max":' || r.high || '}', ','
                             ORDER BY r.first) AS ranges
             FROM (SELECT e->>'currency' AS currency, min((e->>'amountCents')::bigint) AS low,
                          max((e->>'amountCents')::bigint) AS high, min(vs.n * 1000 + i) AS first
                     FROM (SELECT v.prices, row_number() OVER (ORDER BY v.position, v.id) AS n
                             FROM product_variants v WHERE v.product_id = p.id) vs
                          CROSS JOIN LATERAL jsonb_array_elements(vs.prices) WITH ORDINALITY AS x (e, i)
                    GROUP BY 1) r) pr;
END
$fn$;
