/** The columns of a product row (ProductRow) as the repositories read them: all but the generated search vector. */
export const PRODUCT_COLUMNS =
  'id, name, slug, description, category_id, status, tags, options, media, version, created_at, updated_at'
