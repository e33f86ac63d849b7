import type pg from 'pg'

/**
 * The demo catalog: 10 departments with 4 subcategories each (50 categories), and products 1…N with three variants
 * each (SKUs DEMO-0000001-S, -M, -L …).
 */
const DEPARTMENTS: [string, string[]][] = [
  ['Electronics', ['Phones', 'Laptops', 'Audio', 'Cameras']],
  ['Home', ['Kitchen', 'Furniture', 'Lighting', 'Bedding']],
  ['Garden', ['Tools', 'Plants', 'Outdoor Furniture', 'Watering']],
  ['Fashion', ['Shoes', 'Jackets', 'Bags', 'Accessories']],
  ['Sports', ['Running', 'Cycling', 'Camping', 'Fitness']],
  ['Toys', ['Puzzles', 'Building Sets', 'Dolls', 'Outdoor Toys']],
  ['Books', ['Fiction', 'Science', 'Cooking', 'Travel']],
  ['Beauty', ['Skincare', 'Haircare', 'Fragrance', 'Makeup']],
  ['Grocery', ['Coffee', 'Tea', 'Snacks', 'Pantry']],
  ['Office', ['Paper', 'Writing', 'Desks', 'Storage']]
]

const slug = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, '-')

/** Every demo product has this many variants. */
export const VARIANTS_PER_PRODUCT = 3

export interface SeedProgress {
  (done: number, total: number): void
}

export async function seedCategories(client: pg.ClientBase): Promise<number[]> {
  const rows: { name: string; slug: string; parent: string | null }[] = []
  for (const [department, subs] of DEPARTMENTS) {
    rows.push({ name: department, slug: slug(department), parent: null })
    for (const sub of subs) rows.push({ name: sub, slug: `${slug(department)}-${slug(sub)}`, parent: slug(department) })
  }
  for (const row of rows) {
    await client.query(
      `INSERT INTO categories (name, slug, description, parent_id, created_at, updated_at)
       VALUES ($1, $2, $3, (SELECT id FROM categories WHERE slug = $4), '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')
       ON CONFLICT (slug) DO NOTHING`,
      [row.name, row.slug, `Everything in ${row.name}`, row.parent]
    )
  }
  const { rows: ids } = await client.query<{ id: number }>(
    'SELECT id FROM categories WHERE slug = ANY($1) ORDER BY slug',
    [rows.map((r) => r.slug)]
  )
  return ids.map((r) => r.id)
}

// Every value is a pure function of the product number i, so two runs produce the same catalog. Each product has
// one option (Size S/M/L, or Colour for every fifth) and three variants priced in USD and EUR (and GBP for every
// third), two images and two or three tags; product_prices is filled by the variants' trigger, once per batch.
const PRODUCT_BATCH_SQL = `
WITH source AS (
  SELECT i, adj, material, noun, adj || ' ' || material || ' ' || noun || ' ' || i AS name,
    100 + (i::bigint * 7919) % 99900 AS base,
    CASE WHEN i % 5 = 0 THEN 'Colour' ELSE 'Size' END AS option_name,
    CASE WHEN i % 5 = 0 THEN ARRAY['Black','White','Navy'] ELSE ARRAY['S','M','L'] END AS option_values
  FROM (
    SELECT i,
      (ARRAY['Classic','Modern','Compact','Deluxe','Rugged','Smart','Eco','Vintage','Premium','Travel','Pro','Mini'])[1 + i % 12] AS adj,
      (ARRAY['Steel','Oak','Cotton','Leather','Bamboo','Glass','Carbon','Wool','Ceramic','Linen','Copper'])[1 + (i / 12) % 11] AS material,
      (ARRAY['Lamp','Backpack','Kettle','Speaker','Chair','Bottle','Jacket','Notebook','Watch','Blender','Tent','Mug','Headphones'])[1 + (i / 132) % 13] AS noun
    FROM generate_series($1::integer, $2::integer) AS i
  ) g
), inserted AS (
  INSERT INTO products (name, slug, description, category_id, status, tags, options, media, created_at, updated_at)
  SELECT
    name,
    lower(regexp_replace(name, '[^A-Za-z0-9]+', '-', 'g')) || '-demo-' || i,
    'A ' || lower(adj) || ' ' || lower(material) || ' ' || lower(noun) || ' for everyday use. Item number ' || i || '.',
    ($3::integer[])[1 + (i::bigint * 31) % cardinality($3::integer[])],
    (CASE WHEN i % 10 = 0 THEN 'draft' WHEN i % 25 = 13 THEN 'archived' ELSE 'active' END)::product_status,
    ARRAY[lower(adj), lower(material)] || CASE WHEN i % 9 = 0 THEN ARRAY['sale'] ELSE ARRAY[]::text[] END,
    jsonb_build_array(jsonb_build_object('name', option_name, 'values', to_jsonb(option_values))),
    jsonb_build_array(
      jsonb_build_object('id', nextval('product_media_id_seq'), 'url', 'https://cdn.example.com/demo/' || i || '-front.jpg',
        'alt', name || ', front', 'width', 1200, 'height', 1200, 'variantIds', '[]'::jsonb),
      jsonb_build_object('id', nextval('product_media_id_seq'), 'url', 'https://cdn.example.com/demo/' || i || '-side.jpg',
        'alt', name || ', side', 'width', 1200, 'height', 1200, 'variantIds', '[]'::jsonb)),
    timestamptz '2025-01-01T00:00:00Z' + i * interval '1 second',
    timestamptz '2025-01-01T00:00:00Z' + i * interval '1 second'
  FROM source
  ON CONFLICT (slug) DO NOTHING
  RETURNING id, slug
)
INSERT INTO product_variants (product_id, sku, title, option_values, prices, stock, position, created_at, updated_at)
SELECT ins.id,
  'DEMO-' || CASE WHEN s.i < 10000000 THEN lpad(s.i::text, 7, '0') ELSE s.i::text END || '-' || upper(v.value),
  v.value, ARRAY[v.value],
  jsonb_build_array(
    jsonb_build_object('currency', 'USD', 'amountCents', s.base + (v.n - 1) * s.base / 10),
    jsonb_build_object('currency', 'EUR', 'amountCents', (s.base + (v.n - 1) * s.base / 10) * 92 / 100))
  || CASE WHEN s.i % 3 = 0
       THEN jsonb_build_array(jsonb_build_object('currency', 'GBP', 'amountCents', (s.base + (v.n - 1) * s.base / 10) * 79 / 100))
       ELSE '[]'::jsonb END,
  (s.i::bigint * 13 + v.n * 7) % 500,
  v.n - 1,
  timestamptz '2025-01-01T00:00:00Z' + s.i * interval '1 second',
  timestamptz '2025-01-01T00:00:00Z' + s.i * interval '1 second'
FROM inserted ins
JOIN source s ON s.i = substring(ins.slug FROM '-demo-([0-9]+)$')::integer
CROSS JOIN LATERAL unnest(s.option_values) WITH ORDINALITY AS v(value, n)`

/**
 * Loads the demo catalog; running it again adds nothing, and a larger `products` adds only the missing ones.
 * Each batch commits on its own so a long load shows progress and can be resumed.
 */
export async function seedCatalog(
  client: pg.ClientBase,
  opts: { products: number; batchSize?: number; onProgress?: SeedProgress }
): Promise<{ categories: number; productsInserted: number }> {
  const categoryIds = await seedCategories(client)
  const batch = opts.batchSize ?? 25_000
  let inserted = 0
  for (let from = 1; from <= opts.products; from += batch) {
    const to = Math.min(opts.products, from + batch - 1)
    const result = await client.query(PRODUCT_BATCH_SQL, [from, to, categoryIds])
    inserted += (result.rowCount ?? 0) / VARIANTS_PER_PRODUCT
    opts.onProgress?.(to, opts.products)
  }
  if (inserted > 0) await client.query('ANALYZE categories, products, product_variants, product_prices')
  return { categories: categoryIds.length, productsInserted: inserted }
}

export async function catalogIsEmpty(client: pg.ClientBase): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM products LIMIT 1')
  return rowCount === 0
}
