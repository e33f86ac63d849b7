-- Plans the write path's trigger functions keep, whatever the set of products they are given.
--
-- refresh_product_prices was a SQL function of two statements: PostgreSQL parses and plans such a function again
-- at every statement that calls it (about 0.4 ms, several times what it then runs), so every variant write paid it.
-- As PL/pgSQL its statements are planned once per connection.
--
-- Both functions take an array of product ids. With the default plan_cache_mode a statement with a parameter is
-- planned again for every call as long as the plan for any value looks costlier than one for the given value, and
-- an array parameter always does (its size is unknown). The plan for any array is the same walk of the ids by
-- primary key and index that the planner picks for one product, so it is kept: force_generic_plan.
CREATE OR REPLACE FUNCTION refresh_product_prices(pids integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $fn$
BEGIN
  DELETE FROM product_prices WHERE product_id = ANY (pids);
  INSERT INTO product_prices (product_id, currency, min_cents, max_cents, status, category_id)
  SELECT pr.id, p->>'currency', min((p->>'amountCents')::integer), max((p->>'amountCents')::integer),
         pr.status, pr.category_id
    FROM unnest(pids) AS ids (id)
         JOIN products pr ON pr.id = ids.id
         JOIN product_variants v ON v.product_id = ids.id
         CROSS JOIN LATERAL jsonb_array_elements(v.prices) p
   GROUP BY pr.id, p->>'currency', pr.status, pr.category_id;
END
$fn$;

ALTER FUNCTION product_documents_of(integer[]) SET plan_cache_mode = force_generic_plan;
