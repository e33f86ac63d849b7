-- The product documents (migration 010) built with less work per variant; the text is the same to the byte
-- (test/products/documents.test.ts compares every stored document with the serializer's). Building the documents of
-- 2,000 products of 4 variants took the backend 141–193 ms of CPU before and takes 110–117 ms (alternated 3 times).
--
-- - A variant's prices are its stored prices' text made compact, instead of a subquery per list (the prices, the
--   compare-at prices) that took each price apart and wrote it again. jsonb writes an object's keys shortest first,
--   so a price (only "currency", a three-letter code, and "amountCents", an integer: the schemas allow nothing else)
--   is {"currency": "USD", "amountCents": 1999}; removing the space after each ':' and ',' gives the serializer's text.
-- - The price range is taken from the variants' prices as the variants' own scan collects them, instead of a second
--   scan of the product's variants, sorted and numbered again.
-- - No Memoize: each product is built once per call, so a cache of the lateral results could only be filled, never
--   hit (unless products have identical prices, as a generated benchmark catalog has).
CREATE OR REPLACE FUNCTION product_documents_of(pids integer[]) RETURNS TABLE (product_id integer, doc text)
LANGUAGE plpgsql STABLE SET jit = off SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_memoize = off AS $fn$
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
               || ',"prices":' || replace(replace(v.prices::text, ': ', ':'), ', ', ',')
               || ',"compareAtPrices":' || coalesce(replace(replace(v.compare_at_prices::text, ': ', ':'), ', ', ','), 'null')
               || ',"stock":' || v.stock
               || ',"barcode":' || coalesce(to_json(v.barcode)::text, 'null')
               || ',"weightGrams":' || coalesce(v.weight_grams::text, 'null')
               || ',"position":' || v.position
               || ',"version":' || v.version
               || ',"createdAt":"' || to_char(v.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
               || '","updatedAt":"' || to_char(v.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
               || '"}', ',' ORDER BY v.position, v.id) AS variants,
                  array_agg(v.prices ORDER BY v.position, v.id) AS prices
             FROM product_variants v WHERE v.product_id = p.id) vl
         CROSS JOIN LATERAL (
           SELECT string_agg(to_json(r.currency)::text || ':{"min":' || r.low || ',"max":' || r.high || '}', ','
                             ORDER BY r.first) AS ranges
             FROM (SELECT e->>'currency' AS currency, min((e->>'amountCents')::bigint) AS low,
                          max((e->>'amountCents')::bigint) AS high, min(vs.n * 1000 + i) AS first
                     FROM unnest(vl.prices) WITH ORDINALITY AS vs (prices, n)
                          CROSS JOIN LATERAL jsonb_array_elements(vs.prices) WITH ORDINALITY AS x (e, i)
                    GROUP BY 1) r) pr;
END
$fn$;
