import { type CsvLayout, type CsvRow, cell, optionsOf, rowsOf, splitList } from './csv-layout.js'
import { formatAmount, integerCell, parseAmount } from './money.js'

// Shopify's product CSV (https://help.shopify.com/en/manual/products/import-export/using-csv), in its export order.
const SHOPIFY_COLUMNS = [
  'Handle',
  'Title',
  'Body (HTML)',
  'Vendor',
  'Product Category',
  'Type',
  'Tags',
  'Published',
  'Option1 Name',
  'Option1 Value',
  'Option2 Name',
  'Option2 Value',
  'Option3 Name',
  'Option3 Value',
  'Variant SKU',
  'Variant Grams',
  'Variant Inventory Tracker',
  'Variant Inventory Qty',
  'Variant Inventory Policy',
  'Variant Fulfillment Service',
  'Variant Price',
  'Variant Compare At Price',
  'Variant Requires Shipping',
  'Variant Taxable',
  'Variant Barcode',
  'Image Src',
  'Image Position',
  'Image Alt Text',
  'Gift Card',
  'SEO Title',
  'SEO Description',
  'Variant Image',
  'Variant Weight Unit',
  'Cost per item',
  'Status'
]
const SHOPIFY = Object.fromEntries(SHOPIFY_COLUMNS.map((c, i) => [c, i])) as Record<string, number>

// A product without options is exported by Shopify with this one option.
const DEFAULT_OPTION = 'Title'
const DEFAULT_VALUE = 'Default Title'

/** Shopify's free-text tags ("Summer Sale") as catalog tags (summer-sale). */
const shopifyTag = (tag: string) =>
  tag
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)

function grams(text: string): number | string | null {
  if (text.trim() === '') return null
  return /^\d{1,10}(\.0+)?$/.test(text.trim()) ? Math.trunc(Number(text)) : text
}

/**
 * Shopify's layout. Price and Compare At Price are in one currency (the shop's); Vendor, Type, Product Category,
 * SEO and tax fields have no place in the catalog model and are not read.
 */
export function shopifyCsv(currency: string): CsvLayout {
  return {
    name: 'shopify-csv',
    columns: SHOPIFY_COLUMNS,
    key: 'Handle',
    required: ['Handle', 'Title', 'Variant SKU'],
    toProduct(rows, has) {
      const first = rows[0] as CsvRow
      const isVariant = (r: CsvRow) =>
        cell(r, 'Variant SKU') !== '' || cell(r, 'Variant Price') !== '' || cell(r, 'Option1 Value') !== ''
      const variantRows = rows.filter(isVariant)
      let options = optionsOf(
        first,
        variantRows,
        (n) => `Option${n} Name`,
        (n) => `Option${n} Value`
      )
      if (options.length === 1 && options[0]?.name === DEFAULT_OPTION && variantRows.length <= 1) options = []
      const product: Record<string, unknown> = {
        slug: cell(first, 'Handle'),
        name: cell(first, 'Title'),
        options
      }
      if (has('Body (HTML)')) product.description = cell(first, 'Body (HTML)')
      if (has('Tags')) product.tags = [...new Set(splitList(cell(first, 'Tags')).map(shopifyTag).filter(Boolean))]
      const status = cell(first, 'Status').toLowerCase()
      if (status !== '') product.status = status
      else if (cell(first, 'Published') !== '')
        product.status = cell(first, 'Published').toLowerCase() === 'true' ? 'active' : 'draft'

      const media: { url: string; alt: string; position: number; variantSkus: string[]; line: number }[] = []
      for (const row of rows) {
        const url = cell(row, 'Image Src')
        if (url === '' || media.some((m) => m.url === url)) continue
        const position = Number(cell(row, 'Image Position')) || media.length + 1
        media.push({ url, alt: cell(row, 'Image Alt Text'), position, variantSkus: [], line: row.line })
      }
      media.sort((a, b) => a.position - b.position)
      product.variants = variantRows.map((row) => {
        const sku = cell(row, 'Variant SKU')
        const price = cell(row, 'Variant Price')
        const compareAt = cell(row, 'Variant Compare At Price')
        const variant: Record<string, unknown> = {
          sku,
          optionValues: options.map((_, i) => cell(row, `Option${i + 1} Value`)),
          prices: price === '' ? [] : [{ currency, amountCents: parseAmount('Variant Price', price, currency) }]
        }
        if (has('Variant Compare At Price'))
          variant.compareAtPrices =
            compareAt === ''
              ? null
              : [{ currency, amountCents: parseAmount('Variant Compare At Price', compareAt, currency) }]
        if (cell(row, 'Variant Inventory Qty') !== '') variant.stock = integerCell(cell(row, 'Variant Inventory Qty'))
        if (has('Variant Barcode'))
          variant.barcode = cell(row, 'Variant Barcode') === '' ? null : cell(row, 'Variant Barcode')
        if (has('Variant Grams')) variant.weightGrams = grams(cell(row, 'Variant Grams'))
        const image = cell(row, 'Variant Image')
        if (image !== '') {
          let item = media.find((m) => m.url === image)
          if (!item)
            media.push((item = { url: image, alt: '', position: media.length + 1, variantSkus: [], line: row.line }))
          if (sku !== '' && !item.variantSkus.includes(sku)) item.variantSkus.push(sku)
        }
        return variant
      })
      if (has('Image Src') || has('Variant Image')) {
        product.media = media.map((m) => ({
          url: m.url,
          alt: m.alt,
          ...(m.variantSkus.length ? { variantSkus: m.variantSkus } : {})
        }))
      }
      return {
        product,
        sources: {
          line: first.line,
          variantLines: variantRows.map((r) => r.line),
          mediaLines: media.map((m) => m.line),
          columns: {
            slug: 'Handle',
            name: 'Title',
            description: 'Body (HTML)',
            tags: 'Tags',
            status: 'Status',
            options: 'Option1 Name',
            sku: 'Variant SKU',
            prices: 'Variant Price',
            compareAtPrices: 'Variant Compare At Price',
            stock: 'Variant Inventory Qty',
            barcode: 'Variant Barcode',
            weightGrams: 'Variant Grams',
            optionValues: 'Option1 Value',
            url: 'Image Src',
            alt: 'Image Alt Text'
          }
        }
      }
    },
    toRows(product) {
      const imageOf = (variantId: number) => product.media.find((m) => m.variantIds.includes(variantId))?.url ?? ''
      const priceIn = (prices: { currency: string; amountCents: number }[] | null) => {
        const price = prices?.find((p) => p.currency === currency)
        return price ? formatAmount(price.amountCents, currency) : ''
      }
      return rowsOf(product, SHOPIFY_COLUMNS.length, (row, i) => {
        const set = (column: string, value: string) => (row[SHOPIFY[column] as number] = value)
        set('Handle', product.slug)
        if (i === 0) {
          set('Title', product.name)
          set('Body (HTML)', product.description)
          set('Tags', product.tags.join(', '))
          set('Published', String(product.status === 'active'))
          set('Status', product.status)
          if (product.options.length === 0) set('Option1 Name', DEFAULT_OPTION)
          product.options.forEach((o, n) => set(`Option${n + 1} Name`, o.name))
        }
        const variant = product.variants[i]
        if (variant) {
          if (product.options.length === 0) set('Option1 Value', DEFAULT_VALUE)
          variant.optionValues.forEach((v, n) => set(`Option${n + 1} Value`, v))
          set('Variant SKU', variant.sku)
          set('Variant Grams', variant.weightGrams === null ? '' : String(variant.weightGrams))
          set('Variant Inventory Tracker', 'shopify')
          set('Variant Inventory Qty', String(variant.stock))
          set('Variant Inventory Policy', 'deny')
          set('Variant Fulfillment Service', 'manual')
          set('Variant Price', priceIn(variant.prices))
          set('Variant Compare At Price', priceIn(variant.compareAtPrices))
          set('Variant Requires Shipping', 'true')
          set('Variant Taxable', 'true')
          set('Variant Barcode', variant.barcode ?? '')
          set('Variant Image', imageOf(variant.id))
          set('Variant Weight Unit', 'g')
        }
        const media = product.media[i]
        if (media) {
          set('Image Src', media.url)
          set('Image Position', String(i + 1))
          set('Image Alt Text', media.alt)
        }
        if (i === 0) set('Gift Card', 'false')
      })
    }
  }
}
