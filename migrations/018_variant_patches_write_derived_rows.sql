-- A batch of variant PATCHes (src/modules/products/variant-service.ts) writes the documents and price rows of the
-- products it changes itself, built from the rows its statements return (src/modules/products/derived-rows.ts), to
-- the byte what product_documents_of and refresh_product_prices give (test/products/coalesced-patches.test.ts).
-- Building them in the database at every batch (the documents at the products' version bump, the price rows at the
-- variants' update) was about a third of the database's time in such a batch (docs/architecture.md, write path).
-- Such a transaction says so with SET LOCAL catalog.derived_updates = 'written' before its first statement; the
-- update triggers of the variants (which drop the document and refresh the price rows) and of the products (which
-- build the document) then leave those rows to it. Every other write keeps the triggers as before.
DROP TRIGGER products_documents_update ON products;
CREATE TRIGGER products_documents_update AFTER UPDATE ON products
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  WHEN (current_setting('catalog.derived_updates', true) IS DISTINCT FROM 'written')
  EXECUTE FUNCTION product_documents_changed();

DROP TRIGGER product_variants_documents_update ON product_variants;
CREATE TRIGGER product_variants_documents_update AFTER UPDATE ON product_variants
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  WHEN (current_setting('catalog.derived_updates', true) IS DISTINCT FROM 'written')
  EXECUTE FUNCTION product_documents_stale();

DROP TRIGGER product_variants_prices_update ON product_variants;
CREATE TRIGGER product_variants_prices_update AFTER UPDATE ON product_variants
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  WHEN (current_setting('catalog.derived_updates', true) IS DISTINCT FROM 'written')
  EXECUTE FUNCTION product_variants_prices_changed();
