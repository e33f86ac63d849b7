-- Every ordered products index leads with status. An index in created_at or name order without it let the planner
-- walk it and filter by status: when the newest rows were drafts (an import, a batch of new products), an anonymous
-- first page read all of them. Lists over every status merge one index scan per status instead (repository.ts).
-- The foreign key from products to categories keeps an index of its own, so deleting a category looks its products up.
-- Three fewer indexes also make every product write cheaper.
DROP INDEX IF EXISTS products_created_idx;
DROP INDEX IF EXISTS products_name_idx;
DROP INDEX IF EXISTS products_category_name_idx;
DROP INDEX IF EXISTS products_category_created_idx;
CREATE INDEX products_category_idx ON products (category_id);
