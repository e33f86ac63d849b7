import { type CsvLayout, type CsvRow, cell, optionsOf, rowsOf, splitList } from './csv-layout.js'
import { formatPrices, integerCell, parsePrices } from './money.js'

const OWN_COLUMNS = [
  'slug',
  'name',
  'description',
  'status',
  'categoryId',
  'tags',
  'option1Name',
  'option1Value',
  'option2Name',
  'option2Value',
  'option3Name',
  'option3Value',
  'sku',
  'variantTitle',
  'prices',
  'compareAtPrices',
  'stock',
  'barcode',
  'weightGrams',
  'imageUrl',
  'imageAlt',
  'imageWidth',
  'imageHeight',
  'imageVariantSkus'
]
const OWN = Object.fromEntries(OWN_COLUMNS.map((c, i) => [c, i])) as Record<string, number>

/** Our layout: every field of the catalog model, prices as "USD 19.99; EUR 18.99" in every currency. */
export const ownCsv: CsvLayout = {
  name: 'csv',
  columns: OWN_COLUMNS,
  key: 'slug',
  required: ['slug', 'name', 'sku'],
  toProduct(rows, has) {
    const first = rows[0] as CsvRow
    const variantRows = rows.filter((r) => cell(r, 'sku') !== '' || cell(r, 'prices') !== '')
    const options = optionsOf(
      first,
      variantRows,
      (n) => `option${n}Name`,
      (n) => `option${n}Value`
    )
    const product: Record<string, unknown> = { slug: cell(first, 'slug'), name: cell(first, 'name'), options }
    if (has('description')) product.description = cell(first, 'description')
    if (cell(first, 'status') !== '') product.status = cell(first, 'status')
    if (has('categoryId'))
      product.categoryId = cell(first, 'categoryId') === '' ? null : integerCell(cell(first, 'categoryId'))
    if (has('tags')) product.tags = splitList(cell(first, 'tags'))
    product.variants = variantRows.map((row) => {
      const variant: Record<string, unknown> = {
        sku: cell(row, 'sku'),
        optionValues: options.map((_, i) => cell(row, `option${i + 1}Value`)),
        prices: parsePrices('prices', cell(row, 'prices'))
      }
      if (cell(row, 'variantTitle') !== '') variant.title = cell(row, 'variantTitle')
      if (has('compareAtPrices'))
        variant.compareAtPrices =
          cell(row, 'compareAtPrices') === '' ? null : parsePrices('compareAtPrices', cell(row, 'compareAtPrices'))
      if (cell(row, 'stock') !== '') variant.stock = integerCell(cell(row, 'stock'))
      if (has('barcode')) variant.barcode = cell(row, 'barcode') === '' ? null : cell(row, 'barcode')
      if (has('weightGrams'))
        variant.weightGrams = cell(row, 'weightGrams') === '' ? null : integerCell(cell(row, 'weightGrams'))
      return variant
    })
    const mediaRows = rows.filter((r) => cell(r, 'imageUrl') !== '')
    if (has('imageUrl')) {
      product.media = mediaRows.map((row) => {
        const media: Record<string, unknown> = { url: cell(row, 'imageUrl'), alt: cell(row, 'imageAlt') }
        if (cell(row, 'imageWidth') !== '') media.width = integerCell(cell(row, 'imageWidth'))
        if (cell(row, 'imageHeight') !== '') media.height = integerCell(cell(row, 'imageHeight'))
        const skus = splitList(cell(row, 'imageVariantSkus'))
        if (skus.length) media.variantSkus = skus
        return media
      })
    }
    return {
      product,
      sources: {
        line: first.line,
        variantLines: variantRows.map((r) => r.line),
        mediaLines: mediaRows.map((r) => r.line),
        columns: {
          options: 'option1Name',
          optionValues: 'option1Value',
          title: 'variantTitle',
          url: 'imageUrl',
          alt: 'imageAlt',
          width: 'imageWidth',
          height: 'imageHeight',
          variantSkus: 'imageVariantSkus',
          variantIds: 'imageVariantSkus'
        }
      }
    }
  },
  toRows(product) {
    const skuOf = new Map(product.variants.map((v) => [v.id, v.sku]))
    return rowsOf(product, OWN_COLUMNS.length, (row, i) => {
      const set = (column: string, value: string) => (row[OWN[column] as number] = value)
      set('slug', product.slug)
      if (i === 0) {
        set('name', product.name)
        set('description', product.description)
        set('status', product.status)
        set('categoryId', product.categoryId === null ? '' : String(product.categoryId))
        set('tags', product.tags.join(', '))
        product.options.forEach((o, n) => set(`option${n + 1}Name`, o.name))
      }
      const variant = product.variants[i]
      if (variant) {
        variant.optionValues.forEach((v, n) => set(`option${n + 1}Value`, v))
        set('sku', variant.sku)
        set('variantTitle', variant.title)
        set('prices', formatPrices(variant.prices))
        set('compareAtPrices', variant.compareAtPrices === null ? '' : formatPrices(variant.compareAtPrices))
        set('stock', String(variant.stock))
        set('barcode', variant.barcode ?? '')
        set('weightGrams', variant.weightGrams === null ? '' : String(variant.weightGrams))
      }
      const media = product.media[i]
      if (media) {
        set('imageUrl', media.url)
        set('imageAlt', media.alt)
        set('imageWidth', media.width === null ? '' : String(media.width))
        set('imageHeight', media.height === null ? '' : String(media.height))
        set('imageVariantSkus', media.variantIds.map((id) => skuOf.get(id) ?? '').join(', '))
      }
    })
  }
}
