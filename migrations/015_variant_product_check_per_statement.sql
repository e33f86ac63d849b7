-- A variant's product was checked by a foreign key: for each variant row written, a query of its own (a lookup and a
-- KEY SHARE lock of the product), 5–8 % of a bulk import's PostgreSQL CPU (docs/architecture.md, bulk import). The
-- same check now runs once per statement, over the distinct products the statement's variants name, with the same
-- lock, taken in id order; and the cascade of a product's delete to its variants joins the derived rows' (migration
-- 012). What holds is unchanged: a variant names a product that exists when its statement ends (a product deleted
-- by a transaction that committed first is missing; one being deleted is waited for), and a product's delete
-- removes its variants in the same statement.
ALTER TABLE product_variants DROP CONSTRAINT product_variants_product_id_fkey;

-- As the foreign key reported it (SQLSTATE 23503, its constraint name), naming the first product missing.
CREATE FUNCTION product_variants_product_missing(pid integer) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'insert or update on table "product_variants" violates foreign key constraint "product_variants_product_id_fkey"'
    USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'product_variants_product_id_fkey',
          TABLE = 'product_variants', SCHEMA = current_schema(),
          DETAIL = format('Key (product_id)=(%s) is not present in table "products".', pid);
END
$fn$;

-- Statement-level, over the inserted rows: one query that locks each product in id order and returns the first that
-- is missing. Planned once per connection for any set of products, every product reached by key (as the write
-- path's other functions, migration 011).
CREATE FUNCTION product_variants_products_exist() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
DECLARE
  missing integer;
BEGIN
  SELECT n.product_id INTO missing
    FROM (SELECT DISTINCT product_id FROM new_rows ORDER BY 1) n
         LEFT JOIN LATERAL (SELECT true AS found FROM products p WHERE p.id = n.product_id FOR KEY SHARE) l ON true
   WHERE l.found IS NULL
   LIMIT 1;
  IF FOUND THEN PERFORM product_variants_product_missing(missing); END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER product_variants_products_insert AFTER INSERT ON product_variants
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION product_variants_products_exist();

-- A variant moved to another product (SQL by hand: no writer of the API does it), row by row; the condition keeps
-- every other update from calling it.
CREATE FUNCTION product_variants_product_moved() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM 1 FROM products WHERE id = NEW.product_id FOR KEY SHARE;
  IF NOT FOUND THEN PERFORM product_variants_product_missing(NEW.product_id); END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER product_variants_product_moved AFTER UPDATE OF product_id ON product_variants
  FOR EACH ROW WHEN (OLD.product_id IS DISTINCT FROM NEW.product_id) EXECUTE FUNCTION product_variants_product_moved();

-- A product's delete removes its variants (their own triggers then drop what derives from them), then its derived rows.
CREATE OR REPLACE FUNCTION products_derived_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  DELETE FROM product_variants WHERE product_id IN (SELECT id FROM old_rows);
  DELETE FROM product_prices WHERE product_id IN (SELECT id FROM old_rows);
  DELETE FROM product_documents WHERE product_id IN (SELECT id FROM old_rows);
  RETURN NULL;
END
$fn$;

-- TRUNCATE products empties the variants and the derived rows with it (the foreign key made TRUNCATE ... CASCADE
-- do so for the variants).
CREATE FUNCTION products_truncated() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  TRUNCATE product_variants, product_prices, product_documents;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER products_truncate AFTER TRUNCATE ON products
  FOR EACH STATEMENT EXECUTE FUNCTION products_truncated();
