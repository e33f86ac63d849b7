import { type Static, Type } from 'typebox'
import { Id, Int32, Out, Timestamp } from '../../lib/schemas.js'
import {
  CreateProductSchema,
  CreateVariantSchema,
  Currency,
  ListProductsQuerySchema,
  MAX_MEDIA,
  MAX_VARIANTS,
  MediaInputSchema
} from '../products/schemas.js'

export const EXPORT_FORMATS = ['ndjson', 'csv', 'shopify-csv'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]
export const IMPORT_FORMATS = EXPORT_FORMATS
export type ImportFormat = ExportFormat

const filters = ListProductsQuerySchema.properties
export const ExportQuerySchema = Type.Object(
  {
    format: Type.Enum([...EXPORT_FORMATS], {
      default: 'ndjson',
      description:
        'ndjson: one product per line in the API’s shape; csv: one row per variant or image (docs/api.md); ' +
        'shopify-csv: Shopify’s product CSV'
    }),
    categoryId: filters.categoryId,
    includeDescendants: filters.includeDescendants,
    status: Type.Optional({ ...filters.status, description: 'Only products of this status (default: every status)' }),
    currency: Type.Optional({
      ...Currency,
      description:
        'Currency of minPrice and maxPrice, and of Variant Price in shopify-csv (DEFAULT_CURRENCY when absent)'
    }),
    minPrice: filters.minPrice,
    maxPrice: filters.maxPrice,
    tag: filters.tag,
    sku: filters.sku,
    hasStock: filters.hasStock,
    q: filters.q
  },
  { additionalProperties: false }
)
export type ExportQuery = Static<typeof ExportQuerySchema>

export const ImportQuerySchema = Type.Object(
  {
    dryRun: Type.Boolean({ default: false, description: 'true: validate every row and write nothing' }),
    format: Type.Optional(
      Type.Enum([...IMPORT_FORMATS], {
        description: 'Default: ndjson for application/x-ndjson; for text/csv, shopify-csv when the header has Handle'
      })
    ),
    currency: Type.Optional({
      ...Currency,
      description: 'shopify-csv: the currency of Variant Price and Compare At Price (DEFAULT_CURRENCY when absent)'
    })
  },
  { additionalProperties: false }
)
export type ImportQuery = Static<typeof ImportQuerySchema>

// The API's own read-only fields may appear in an imported line (an NDJSON export is read back as it is): they are
// accepted and ignored. Media may name variants by SKU; the ids of an exported line are mapped through its variants.
const ReadOnly = Type.Optional(Type.Unknown())
const ImportVariantSchema = Type.Object(
  {
    ...CreateVariantSchema.properties,
    id: Type.Optional(Id),
    position: ReadOnly,
    version: ReadOnly,
    createdAt: ReadOnly,
    updatedAt: ReadOnly
  },
  { additionalProperties: false }
)
const ImportMediaSchema = Type.Object(
  {
    ...MediaInputSchema.properties,
    width: Type.Optional(Type.Union([Int32({ minimum: 1 }), Type.Null()])),
    height: Type.Optional(Type.Union([Int32({ minimum: 1 }), Type.Null()])),
    id: ReadOnly,
    variantSkus: Type.Optional(Type.Array(Out(64), { maxItems: MAX_VARIANTS, uniqueItems: true }))
  },
  { additionalProperties: false }
)
const p = CreateProductSchema.properties
export const ImportProductSchema = Type.Object(
  {
    name: p.name,
    slug: p.slug,
    description: p.description,
    categoryId: p.categoryId,
    status: p.status,
    tags: p.tags,
    options: p.options,
    variants: Type.Array(ImportVariantSchema, { minItems: 1, maxItems: MAX_VARIANTS }),
    media: Type.Optional(Type.Array(ImportMediaSchema, { maxItems: MAX_MEDIA })),
    id: ReadOnly,
    version: ReadOnly,
    priceRange: ReadOnly,
    createdAt: ReadOnly,
    updatedAt: ReadOnly
  },
  { additionalProperties: false }
)
export type ImportProduct = Static<typeof ImportProductSchema>

const Count = Int32({ minimum: 0 })
export const ImportErrorSchema = Type.Object(
  {
    line: Int32({ minimum: 0, description: 'Line of the file the row starts on (1: the first line)' }),
    field: Type.Union([Out(200), Type.Null()], { description: 'The field or CSV column at fault, when one is' }),
    code: Out(64, 'Error code, as in the API’s problems (VALIDATION_FAILED, SKU_TAKEN, MALFORMED_LINE, …)'),
    message: Out(500)
  },
  { additionalProperties: false, title: 'ImportError' }
)
export type ImportError = Static<typeof ImportErrorSchema>

export const MAX_KEPT_ERRORS = 1000

export const ImportSchema = Type.Object(
  {
    id: Id,
    status: Type.Enum(['running', 'completed', 'failed'], {
      description:
        'failed: stopped at `failedAtLine` (interrupted, too large, unreadable); send the file again to finish'
    }),
    format: Type.Enum([...IMPORT_FORMATS]),
    dryRun: Type.Boolean(),
    rows: Int32({ minimum: 0, description: 'Lines (NDJSON) or records (CSV) read so far' }),
    variants: Int32({ minimum: 0, description: 'Variant rows read so far' }),
    rowsPerSecond: Type.Number({ minimum: 0 }),
    counts: Type.Object(
      { created: Count, updated: Count, unchanged: Count, failed: Count },
      { additionalProperties: false, description: 'Products; with dryRun what would happen' }
    ),
    errorCount: Int32({ minimum: 0, description: 'Every row error, also those past the first 1,000 kept' }),
    errors: Type.Array(ImportErrorSchema, { maxItems: MAX_KEPT_ERRORS }),
    failedAtLine: Type.Union([Int32({ minimum: 0 }), Type.Null()], {
      description: 'When failed: the first line not imported'
    }),
    failure: Type.Union([Out(500), Type.Null()]),
    startedAt: Timestamp,
    finishedAt: Type.Union([Timestamp, Type.Null()])
  },
  { additionalProperties: false, title: 'Import' }
)
export type Import = Static<typeof ImportSchema>

export const ImportParams = Type.Object({ id: Int32({ minimum: 1 }) }, { additionalProperties: false })

// A file in a body: named schemas (the OpenAPI document names every body), bounded as OWASP's rules ask.
const file = (title: string, description: string) => Type.String({ title, description, maxLength: 2_147_483_647 })
export const NdjsonFileSchema = file('NdjsonFile', 'One product per line (JSON), each line ending in a newline')
export const CsvFileSchema = file('CsvFile', 'RFC 4180 CSV: a header row, then the rows')
