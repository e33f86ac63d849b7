-- Each product's representation as the API answers it (its compact JSON: the Product schema's fields in the
-- schema's order, as the response serializer writes them), kept by the triggers below in the same transaction as
-- every write to the product or its variants. A read of a product or a list page sends these texts as they are:
-- no variant rows to aggregate, no JSON to parse and write again.

-- A timestamp as Date.prototype.toISOString writes it (UTC, milliseconds).
CREATE FUNCTION iso_timestamp(at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- [{ "currency", "amountCents" }] in their stored order; NULL for NULL.
CREATE FUNCTION prices_json(prices jsonb) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT '[' || coalesce(string_agg('{"currency":' || to_json(e->>'currency')::text || ',"amountCents":'
                                    || (e->'amountCents')::text || '}', ',' ORDER BY i), '') || ']'
    FROM jsonb_array_elements(prices) WITH ORDINALITY AS x (e, i)
$$;

-- [{ "name", "values" }] in their stored order.
CREATE FUNCTION options_json(options jsonb) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT '[' || coalesce(string_agg('{"name":' || to_json(o->>'name')::text || ',"values":'
                                    || (SELECT '[' || coalesce(string_agg(to_json(val)::text, ',' ORDER BY j), '') || ']'
                                          FROM jsonb_array_elements_text(o->'values') WITH ORDINALITY AS y (val, j))
                                    || '}', ',' ORDER BY i), '') || ']'
    FROM jsonb_array_elements(options) WITH ORDINALITY AS x (o, i)
$$;

-- [{ "id", "url", "alt", "width", "height", "variantIds" }] in their stored order.
CREATE FUNCTION media_json(media jsonb) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT '[' || coalesce(string_agg(
           '{"id":' || (m->'id')::text
           || ',"url":' || to_json(m->>'url')::text
           || ',"alt":' || to_json(coalesce(m->>'alt', ''))::text
           || ',"width":' || coalesce(m->'width', 'null')::text
           || ',"height":' || coalesce(m->'height', 'null')::text
           || ',"variantIds":[' || coalesce((SELECT string_agg(vid::text, ',' ORDER BY j)
                                               FROM jsonb_array_elements(m->'variantIds') WITH ORDINALITY AS y (vid, j)), '')
           || ']}', ',' ORDER BY i), '') || ']'
    FROM jsonb_array_elements(media) WITH ORDINALITY AS x (m, i)
$$;

CREATE FUNCTION variant_json(v product_variants) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT '{"id":' || v.id
    || ',"sku":' || to_json(v.sku)::text
    || ',"title":' || to_json(v.title)::text
    || ',"optionValues":' || to_json(v.option_values)::text
    || ',"prices":' || prices_json(v.prices)
    || ',"compareAtPrices":' || coalesce(prices_json(v.compare_at_prices), 'null')
    || ',"stock":' || v.stock
    || ',"barcode":' || coalesce(to_json(v.barcode)::text, 'null')
    || ',"weightGrams":' || coalesce(v.weight_grams::text, 'null')
    || ',"position":' || v.position
    || ',"version":' || v.version
    || ',"createdAt":"' || iso_timestamp(v.created_at)
    || '","updatedAt":"' || iso_timestamp(v.updated_at) || '"}'
$$;

-- The product's document; NULL when there is no such product. Variants in (position, id) order; priceRange keys in
-- the order their currency first appears over the variants' prices.
CREATE FUNCTION product_document(pid integer) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT '{"id":' || p.id
    || ',"name":' || to_json(p.name)::text
    || ',"slug":' || to_json(p.slug)::text
    || ',"description":' || to_json(p.description)::text
    || ',"categoryId":' || coalesce(p.category_id::text, 'null')
    || ',"status":"' || p.status::text
    || '","tags":' || to_json(p.tags)::text
    || ',"options":' || options_json(p.options)
    || ',"variants":[' || coalesce((SELECT string_agg(variant_json(v), ',' ORDER BY v.position, v.id)
                                      FROM product_variants v WHERE v.product_id = p.id), '')
    || '],"media":' || media_json(p.media)
    || ',"priceRange":{' || coalesce((
         SELECT string_agg(to_json(currency)::text || ':{"min":' || low || ',"max":' || high || '}', ',' ORDER BY first)
           FROM (SELECT e->>'currency' AS currency, min((e->>'amountCents')::bigint) AS low,
                        max((e->>'amountCents')::bigint) AS high, min(vi * 1000 + i) AS first
                   FROM (SELECT v.prices, row_number() OVER (ORDER BY v.position, v.id) AS vi
                           FROM product_variants v WHERE v.product_id = p.id) vs
                        CROSS JOIN LATERAL jsonb_array_elements(vs.prices) WITH ORDINALITY AS x (e, i)
                  GROUP BY 1) ranges), '')
    || '},"version":' || p.version
    || ',"createdAt":"' || iso_timestamp(p.created_at)
    || '","updatedAt":"' || iso_timestamp(p.updated_at) || '"}'
    FROM products p
   WHERE p.id = pid
$$;

CREATE TABLE product_documents (
  product_id integer PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
  doc        text NOT NULL
);
-- A document of a few variants stays in its row, uncompressed (the default would compress anything over ~2 kB).
ALTER TABLE product_documents SET (toast_tuple_target = 8160);

CREATE FUNCTION refresh_product_documents(pids integer[]) RETURNS void LANGUAGE sql AS $$
  INSERT INTO product_documents (product_id, doc)
  SELECT ids.id, d.doc
    FROM (SELECT DISTINCT id FROM unnest(pids) AS u (id)) ids
         CROSS JOIN LATERAL (SELECT product_document(ids.id) AS doc) d
   WHERE d.doc IS NOT NULL
   ORDER BY ids.id
  ON CONFLICT (product_id) DO UPDATE SET doc = EXCLUDED.doc;
$$;

-- Statement-level, over the transition tables: a batch refreshes each of its products once per statement.
CREATE FUNCTION product_documents_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  pids integer[];
BEGIN
  IF TG_TABLE_NAME = 'products' THEN
    SELECT array_agg(id) INTO pids FROM new_rows;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT product_id) INTO pids FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT product_id) INTO pids FROM old_rows;
  ELSE
    SELECT array_agg(DISTINCT pid) INTO pids FROM (
      SELECT product_id FROM new_rows UNION SELECT product_id FROM old_rows
    ) changed (pid);
  END IF;
  IF pids IS NOT NULL THEN PERFORM refresh_product_documents(pids); END IF;
  RETURN NULL;
END
$$;
-- A product is created with its variants (one statement): the variants' trigger writes its first document. A
-- product inserted without variants has none until it gets one, and its reads build it (see products/repository.ts).
CREATE TRIGGER products_documents_update AFTER UPDATE ON products
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION product_documents_changed();
CREATE TRIGGER product_variants_documents_insert AFTER INSERT ON product_variants
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION product_documents_changed();
CREATE TRIGGER product_variants_documents_update AFTER UPDATE ON product_variants
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION product_documents_changed();
CREATE TRIGGER product_variants_documents_delete AFTER DELETE ON product_variants
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION product_documents_changed();

-- Every existing product's document.
INSERT INTO product_documents (product_id, doc)
SELECT id, product_document(id) FROM products ORDER BY id;
