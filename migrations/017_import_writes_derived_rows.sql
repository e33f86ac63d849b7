-- A bulk import writes the documents and price rows of the products it creates itself, built from the values it
-- already holds (src/modules/bulk/derived-rows.ts), to the byte what product_documents_of and
-- refresh_product_prices give (test/bulk/derived-rows.test.ts). Building them in the database was about two fifths
-- of its CPU in an import of new products (docs/architecture.md, bulk import). Such a transaction says so with
-- SET LOCAL catalog.derived_rows = 'written' before it inserts the new products' variants; the variants' insert
-- triggers then leave those rows to it. Every other write, and an import's changes to existing products, keep the
-- triggers as before.
DROP TRIGGER product_variants_documents_insert ON product_variants;
CREATE TRIGGER product_variants_documents_insert AFTER INSERT ON product_variants
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  WHEN (current_setting('catalog.derived_rows', true) IS DISTINCT FROM 'written')
  EXECUTE FUNCTION product_documents_changed();

DROP TRIGGER product_variants_prices_insert ON product_variants;
CREATE TRIGGER product_variants_prices_insert AFTER INSERT ON product_variants
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  WHEN (current_setting('catalog.derived_rows', true) IS DISTINCT FROM 'written')
  EXECUTE FUNCTION product_variants_prices_changed();
