/**
 * The SELECT of one NDJSON line per product, each built by PostgreSQL as the API writes a product (GET
 * /products/:id): the same keys in the same order (the order of ProductSchema, VariantSchema, MediaSchema), strings
 * escaped as JSON.stringify escapes them (to_json: `"`, `\`, \b \f \n \r \t, other control characters as \u00xx),
 * timestamps as toISOString() writes them, priceRange's currencies in the order they first appear in the variants.
 *
 * jsonb prints with a space after `:` and `,`. prices and compareAtPrices hold only currency codes and integers
 * (the API's PriceSchema), so removing those spaces is exact; media, options and variantIds are rebuilt field by field.
 */

const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
const compact = (jsonb: string) => `replace(replace(${jsonb}::text, ': ', ':'), ', ', ',')`
const orNull = (text: string) => `coalesce(${text}, 'null')`

const VARIANT = `'{"id":' || v.id || ',"sku":' || to_json(v.sku) || ',"title":' || to_json(v.title)
  || ',"optionValues":' || array_to_json(v.option_values) || ',"prices":' || ${compact('v.prices')}
  || ',"compareAtPrices":' || ${orNull(compact('v.compare_at_prices'))} || ',"stock":' || v.stock
  || ',"barcode":' || ${orNull('to_json(v.barcode)::text')} || ',"weightGrams":' || ${orNull('v.weight_grams::text')}
  || ',"position":' || v.position || ',"version":' || v.version
  || ',"createdAt":"' || ${iso('v.created_at')} || '","updatedAt":"' || ${iso('v.updated_at')} || '"}'`

const OPTIONS = `(SELECT string_agg('{"name":' || to_json(o->>'name')
    || ',"values":' || array_to_json(ARRAY(SELECT jsonb_array_elements_text(o->'values'))) || '}', ',' ORDER BY n)
  FROM jsonb_array_elements(products.options) WITH ORDINALITY AS x(o, n))`

const MEDIA = `(SELECT string_agg('{"id":' || (m->>'id') || ',"url":' || to_json(m->>'url') || ',"alt":' || to_json(m->>'alt')
    || ',"width":' || ${orNull(`(m->>'width')`)} || ',"height":' || ${orNull(`(m->>'height')`)}
    || ',"variantIds":' || replace((m->'variantIds')::text, ' ', '') || '}', ',' ORDER BY n)
  FROM jsonb_array_elements(products.media) WITH ORDINALITY AS x(m, n))`

// The variants in order (position, id), and per currency the lowest and highest price, ordered as priceRangeOf
// meets them: by variant, then by the price's place in the variant's list.
const VARIANTS_JOIN = `LEFT JOIN LATERAL (
    SELECT string_agg(${VARIANT}, ',' ORDER BY v.position, v.id) AS variants
      FROM product_variants v WHERE v.product_id = products.id) pv ON true
  LEFT JOIN LATERAL (
    SELECT string_agg(to_json(r.currency)::text || ':{"min":' || r.min || ',"max":' || r.max || '}', ',' ORDER BY r.first)
             AS price_range
      FROM (SELECT e.price->>'currency' AS currency, min((e.price->>'amountCents')::integer) AS min,
                   max((e.price->>'amountCents')::integer) AS max, min(ARRAY[v.position, v.id, e.n]) AS first
              FROM product_variants v CROSS JOIN LATERAL jsonb_array_elements(v.prices) WITH ORDINALITY AS e(price, n)
             WHERE v.product_id = products.id
             GROUP BY 1) r) pr ON true`

const LINE = `'{"id":' || products.id || ',"name":' || to_json(products.name) || ',"slug":' || to_json(products.slug)
  || ',"description":' || to_json(products.description)
  || ',"categoryId":' || ${orNull('products.category_id::text')} || ',"status":"' || products.status
  || '","tags":' || array_to_json(products.tags) || ',"options":[' || coalesce(${OPTIONS}, '')
  || '],"variants":[' || coalesce(pv.variants, '') || '],"media":[' || coalesce(${MEDIA}, '')
  || '],"priceRange":{' || coalesce(pr.price_range, '') || '},"version":' || products.version
  || ',"createdAt":"' || ${iso('products.created_at')} || '","updatedAt":"' || ${iso('products.updated_at')} || '"}'`

/** The SELECT of the lines of the products `from` (a relation named `products`) with `conditions`, in id order. */
export const productLinesSql = (from: string, conditions: string[]) =>
  `SELECT ${LINE} FROM ${from} ${VARIANTS_JOIN}${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''}
    ORDER BY products.id`
