-- Each product's representation as the API answers it (its compact JSON: the Product schema's fields in the
-- schema's order, as the response serializer writes them), kept by the triggers below in the same transaction as
-- every write to the product or its variants. A read of a product or a list page sends these texts as they are:
-- no variant rows to aggregate, no JSON to parse and write again.

-- The documents of the products `pids` (ids of no product are skipped), built in one statement for the whole set:
-- variants in (position, id) order; priceRange keys in the order their currency first appears over the variants'
-- prices; timestamps as Date.prototype.toISOString writes them. PL/pgSQL plans the statement once per connection (a
-- SQL function would be planned again by every statement that calls it, several times the cost of running it).
--
-- Without JIT: a plan kept for any set of products is costed for any, and on a table not yet analyzed (a large
-- import, a fresh restore) that estimate can pass jit_above_cost; PostgreSQL would then compile it on every call,
-- tens of milliseconds each.
CREATE FUNCTION product_documents_of(pids integer[]) RETURNS TABLE (product_id integer, doc text)
LANGUAGE plpgsql STABLE SET jit = off AS $fn$
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
    FROM ids JOIN products p ON p.id = ids.id
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

-- One product's document; NULL when there is no such product.
CREATE FUNCTION product_document(pid integer) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT doc FROM product_documents_of(ARRAY[pid])
$$;

CREATE TABLE product_documents (
  product_id integer PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
  doc        text NOT NULL
);
-- A document of a few variants stays in its row, uncompressed (the default would compress anything over ~2 kB).
ALTER TABLE product_documents SET (toast_tuple_target = 8160);

-- In id order, so concurrent refreshes of overlapping products never deadlock; a product gone (deleted with its
-- variants) is skipped.
CREATE FUNCTION refresh_product_documents(pids integer[]) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO product_documents (product_id, doc)
  SELECT d.product_id, d.doc FROM product_documents_of(pids) d ORDER BY d.product_id
  ON CONFLICT (product_id) DO UPDATE SET doc = EXCLUDED.doc;
END
$fn$;

-- Statement-level, over the transition tables: a batch refreshes each of its products once per statement.
CREATE FUNCTION product_documents_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  pids integer[];
BEGIN
  IF TG_TABLE_NAME = 'products' THEN
    SELECT array_agg(id) INTO pids FROM new_rows;
  ELSE
    SELECT array_agg(DISTINCT product_id) INTO pids FROM new_rows;
  END IF;
  IF pids IS NOT NULL THEN PERFORM refresh_product_documents(pids); END IF;
  RETURN NULL;
END
$fn$;

-- A variant changed or deleted: its product's document is dropped, not rebuilt. Every writer that changes variants
-- also bumps the product's version in a later statement of the same transaction (the API's variant routes, an
-- import's batch), whose trigger writes the document once; until then (SQL by hand) reads build it themselves.
CREATE FUNCTION product_documents_stale() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  DELETE FROM product_documents WHERE product_id IN (SELECT product_id FROM old_rows);
  RETURN NULL;
END
$fn$;

-- A product is created with its variants (one statement): the variants' trigger writes its first document. A
-- product inserted without variants has none until it gets one, and its reads build it (see products/repository.ts).
CREATE TRIGGER products_documents_update AFTER UPDATE ON products
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION product_documents_changed();
CREATE TRIGGER product_variants_documents_insert AFTER INSERT ON product_variants
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION product_documents_changed();
CREATE TRIGGER product_variants_documents_update AFTER UPDATE ON product_variants
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION product_documents_stale();
CREATE TRIGGER product_variants_documents_delete AFTER DELETE ON product_variants
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION product_documents_stale();

-- Every existing product's document, 2,000 products per statement.
DO $$
DECLARE
  last integer := 0;
  ids integer[];
BEGIN
  LOOP
    SELECT array_agg(id) INTO ids FROM (SELECT id FROM products WHERE id > last ORDER BY id LIMIT 2000) batch;
    EXIT WHEN ids IS NULL;
    PERFORM refresh_product_documents(ids);
    last := ids[cardinality(ids)];
  END LOOP;
END
$$;
