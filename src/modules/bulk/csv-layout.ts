import type { Product } from '../products/schemas.js'

/**
 * The two CSV layouts, both "rows of one product key are one product" (Shopify's own convention): the first row
 * carries the product's fields, each variant has a row, and images fill the rows in order (extra rows carry only
 * the key and the image). Each layout reads a group of rows into the import shape and writes a product as rows.
 */
export interface CsvRow {
  line: number
  /** The line the row ends on (a quoted field may hold line breaks). */
  lastLine: number
  /** The row's fields, in the header's order. */
  values: string[]
  /** The header's columns by name (the last of a name given twice). */
  columns: Map<string, number>
}

/** Where a group's parts came from, to put an error on its row and column. */
export interface Sources {
  line: number
  variantLines: number[]
  mediaLines: number[]
  /** The CSV column of an import-shape field (`sku` → `Variant SKU`). */
  columns: Record<string, string>
}

export interface CsvLayout {
  name: 'csv' | 'shopify-csv'
  columns: string[]
  key: string
  /** Columns without which no row can be read: a header lacking one is refused before any row is written. */
  required: string[]
  toProduct(rows: CsvRow[], has: (column: string) => boolean): { product: Record<string, unknown>; sources: Sources }
  toRows(product: Product): string[][]
}

export const cell = (row: CsvRow, column: string) => row.values[row.columns.get(column) ?? -1] ?? ''
export const splitList = (text: string) =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')

/** Option names from the first row, values per variant row, each value listed once in order of appearance. */
export function optionsOf(
  first: CsvRow,
  variantRows: CsvRow[],
  name: (n: number) => string,
  value: (n: number) => string
) {
  const options: { name: string; values: string[] }[] = []
  for (let n = 1; n <= 3; n++) {
    const optionName = cell(first, name(n))
    if (optionName === '') break
    const values: string[] = []
    for (const row of variantRows) {
      const v = cell(row, value(n))
      if (v !== '' && !values.includes(v)) values.push(v)
    }
    options.push({ name: optionName, values })
  }
  return options
}

export function rowsOf(product: Product, width: number, fill: (row: string[], i: number) => void): string[][] {
  const count = Math.max(product.variants.length, product.media.length, 1)
  const rows: string[][] = []
  for (let i = 0; i < count; i++) {
    const row = new Array<string>(width).fill('')
    fill(row, i)
    rows.push(row)
  }
  return rows
}
