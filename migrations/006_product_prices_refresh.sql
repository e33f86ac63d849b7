-- refresh_product_prices joined products to the variants of `pids` with a plan made for any array: PostgreSQL chose
-- a hash join over a sequential scan of products, so every variant write read the whole table. Walking the ids
-- themselves (unnest) makes each step a primary-key or index lookup whatever the table's size.
CREATE OR REPLACE FUNCTION refresh_product_prices(pids integer[]) RETURNS void LANGUAGE sql AS $$
  DELETE FROM product_prices WHERE product_id = ANY (pids);
  INSERT INTO product_prices (product_id, currency, min_cents, max_cents, status, category_id)
  SELECT pr.id, p->>'currency', min((p->>'amountCents')::integer), max((p->>'amountCents')::integer),
         pr.status, pr.category_id
    FROM unnest(pids) AS ids (id)
         JOIN products pr ON pr.id = ids.id
         JOIN product_variants v ON v.product_id = ids.id
         CROSS JOIN LATERAL jsonb_array_elements(v.prices) p
   GROUP BY pr.id, p->>'currency', pr.status, pr.category_id;
$$;
