import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { Database } from '../../db/database.js'
import { AppError } from '../../errors.js'
import { slugify } from '../../lib/slug.js'
import type { WriteContext } from '../../writes/mutation.js'
import { mapWriteError } from '../products/service.js'
import type { Sources } from './csv-layout.js'
import { type ReadItem, readCsv, readNdjson } from './readers.js'
import * as repo from './repository.js'
import {
  type ImportError,
  type ImportFormat,
  type ImportProduct,
  ImportProductSchema,
  MAX_KEPT_ERRORS
} from './schemas.js'
import { type Candidate, type Outcome, upsertBatch } from './upsert.js'

/** An import that created or changed at least this many products refreshes the planner's statistics at its end. */
export const ANALYZE_AFTER_PRODUCTS = 1000

export interface ImportDeps {
  db: Pick<Database, 'primary' | 'transaction'>
  defaultCurrency: string
  /** After a batch commits, with the products it created or changed (cache invalidation). */
  onCommitted?: (productIds: number[]) => Promise<void>
  /** After each batch (progress output of the CLI). */
  onProgress?: (progress: repo.Progress) => void
}

export interface ImportSource {
  body: AsyncIterable<Buffer>
  /** ndjson, or csv (its layout: from `format`, else from the header). */
  syntax: 'ndjson' | 'csv'
  maxBytes: number
}

export interface ImportOptions {
  dryRun: boolean
  format?: ImportFormat
  currency?: string
}

/** A batch is committed at this many variants or products, whichever comes first. */
const BATCH_VARIANTS = 2000
const BATCH_PRODUCTS = 500
/** Batches being written at once (each on its own connection). */
const COMMITS_IN_FLIGHT = 2
/** Errors kept per row: a line with a hundred bad fields does not fill the kept list alone. */
const ERRORS_PER_ROW = 10

let validator: ValidateFunction | undefined
function validate(value: unknown): ErrorObject[] | null {
  if (!validator) {
    // As the API reads JSON bodies: no coercion, unknown fields are errors.
    const ajv = new Ajv({ coerceTypes: false, useDefaults: false, allErrors: true, strict: false })
    addFormats.default(ajv)
    validator = ajv.compile(ImportProductSchema)
  }
  return validator(value) ? null : (validator.errors ?? [])
}

/** `/variants/0/sku` → `variants[0].sku`. */
const fieldOf = (e: ErrorObject) => {
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '')
  const extra =
    (e.params as { missingProperty?: string; additionalProperty?: string }).missingProperty ??
    (e.params as { additionalProperty?: string }).additionalProperty
  return extra ? (path ? `${path}.${extra}` : extra) : path
}

/** The line and field (the CSV column, for CSV) of an error in a product read from `sources`. */
function locate(line: number, field: string, sources: Sources | undefined): { line: number; field: string } {
  if (!sources) return { line, field }
  const match = /^(variants|media)\[(\d+)\](?:\.(\w+))?/.exec(field)
  const lines = match?.[1] === 'variants' ? sources.variantLines : sources.mediaLines
  const name = match ? (match[3] ?? match[1]) : (/^\w+/.exec(field)?.[0] ?? field)
  return {
    line: match ? (lines[Number(match[2])] ?? sources.line) : sources.line,
    field: sources.columns[name as string] ?? (name as string)
  }
}

function rowErrors(item: ReadItem, code: string, fields: { field: string; message: string }[]): ImportError[] {
  return fields.slice(0, ERRORS_PER_ROW).map((f) => ({
    ...locate(item.line, f.field, item.sources),
    code,
    message: `${f.field}: ${f.message}`.slice(0, 500)
  }))
}

/** A product read from the file, checked against the import schema; its errors otherwise. */
function candidateOf(item: ReadItem): Candidate | ImportError[] {
  const errors = validate(item.product)
  if (errors)
    return rowErrors(
      item,
      'VALIDATION_FAILED',
      errors.map((e) => ({ field: fieldOf(e), message: e.message ?? 'invalid' }))
    )
  const input = item.product as ImportProduct
  const slug = input.slug ?? slugify(input.name)
  if (slug === '')
    return rowErrors(item, 'VALIDATION_FAILED', [{ field: 'slug', message: 'required when the name gives none' }])
  return { line: item.line, slug, input }
}

async function* limitBytes(body: AsyncIterable<Buffer>, max: number): AsyncGenerator<Buffer> {
  let total = 0
  for await (const chunk of body) {
    total += chunk.length
    if (total > max) {
      throw new AppError('PAYLOAD_TOO_LARGE', `The body is larger than IMPORT_MAX_BYTES (${max} bytes)`, [
        { field: 'body', message: `more than ${max} bytes` }
      ])
    }
    yield chunk
  }
}

/** A row's own write failing on a constraint or a value (SQLSTATE class 23 or 22) fails that row; anything else the import. */
const failedOutcome = (err: unknown): Outcome => {
  const sqlState = (err as { code?: unknown }).code
  if (typeof sqlState !== 'string' || !/^2[23]/.test(sqlState)) throw err
  try {
    mapWriteError(err)
  } catch (mapped) {
    if (mapped instanceof AppError) return { kind: 'failed', error: mapped }
  }
  return { kind: 'failed', error: new AppError('VALIDATION_FAILED', (err as Error).message) }
}

interface Batch {
  items: { item: ReadItem; candidate: Candidate }[]
  variants: number
  firstLine: number
  lastLine: number
}

export async function startImport(
  { db }: Pick<ImportDeps, 'db'>,
  input: { format: ImportFormat; dryRun: boolean; apiKeyId: number | null }
): Promise<repo.ImportRow> {
  return repo.insertImport(db.primary, input)
}

/**
 * Reads the body to its end in batches, each committed in its own transaction with its audit entries while the
 * next one is read. A row that fails is counted and reported with its line; the rest goes on. If the body cannot
 * be read to its end (too large, the client went away, a CSV header without a required column) the batch being
 * read is dropped whole, the import is marked failed at its first line, and the error is thrown.
 */
export async function runImport(
  deps: ImportDeps,
  id: number,
  source: ImportSource,
  options: ImportOptions,
  ctx: WriteContext
): Promise<repo.ImportRow> {
  const progress: repo.Progress = {
    format: options.format ?? (source.syntax === 'ndjson' ? 'ndjson' : 'csv'),
    rows: 0,
    variants: 0,
    created: 0,
    updated: 0,
    unchanged: 0,
    failed: 0,
    errorCount: 0,
    errors: [],
    committedLine: 0
  }
  const report = (errors: ImportError[]) => {
    progress.errorCount += errors.length
    for (const e of errors) if (progress.errors.length < MAX_KEPT_ERRORS) progress.errors.push(e)
  }
  const apply = (batch: Batch, outcomes: Outcome[]) => {
    const changed: number[] = []
    outcomes.forEach((o, i) => {
      if (o.kind === 'failed') {
        progress.failed++
        const item = (batch.items[i] as Batch['items'][number]).item
        report(rowErrors(item, o.error.code, o.error.errors ?? [{ field: '', message: o.error.message }]))
      } else {
        progress[o.kind]++
        if (o.kind !== 'unchanged') changed.push(o.productId)
      }
    })
    return changed
  }

  // A batch is written in its own transaction; COMMITS_IN_FLIGHT of them at a time, so the database works on one
  // while the next is read and written. Their outcomes are settled in file order, so committedLine only moves
  // over batches that committed and every earlier one with them.
  const write = async (batch: Batch): Promise<Outcome[]> => {
    const candidates = batch.items.map((b) => b.candidate)
    try {
      return await deps.db.transaction((tx) => upsertBatch(tx, candidates, ctx, options))
    } catch (err) {
      if (err instanceof AppError) throw err
      // A statement of the batch failed (e.g. a SKU taken by a concurrent write): each row again on its own.
      const outcomes: Outcome[] = []
      for (const c of candidates) {
        try {
          const [outcome] = await deps.db.transaction((tx) => upsertBatch(tx, [c], ctx, options))
          outcomes.push(outcome as Outcome)
        } catch (rowErr) {
          outcomes.push(failedOutcome(rowErr))
        }
      }
      return outcomes
    }
  }
  const settle = async (batch: Batch, outcomes: Outcome[]) => {
    const changed = apply(batch, outcomes)
    if (!options.dryRun) for (let i = 0; i < changed.length; i++) ctx.onAudited?.()
    progress.committedLine = batch.lastLine
    await repo.saveProgress(deps.db.primary, id, progress)
    if (changed.length && !options.dryRun) await deps.onCommitted?.(changed)
    deps.onProgress?.(progress)
  }
  const writing = new Set<Promise<Outcome[]>>()
  const settling: Promise<void>[] = []
  let settled: Promise<void> = Promise.resolve()
  const submit = async (batch: Batch) => {
    while (settling.length >= COMMITS_IN_FLIGHT) await settling.shift()
    const written = write(batch)
    writing.add(written)
    void written.finally(() => writing.delete(written)).catch(() => {})
    settled = settled.then(async () => settle(batch, await written))
    // A failure is handled where `settled` is awaited; until then it must not count as unhandled.
    settled.catch(() => {})
    settling.push(settled)
  }

  const body = limitBytes(source.body, source.maxBytes)
  const items =
    source.syntax === 'ndjson'
      ? readNdjson(body)
      : readCsv(body, {
          format: options.format,
          currency: options.currency ?? deps.defaultCurrency,
          onLayout: (layout) => (progress.format = layout.name)
        })
  let batch: Batch | undefined
  let nextLine = 1
  // Slow senders too: GET takes an import without a heartbeat for a minute as stopped.
  const heartbeat = setInterval(() => {
    repo.heartbeat(deps.db.primary, id).catch(() => {})
  }, repo.STALE_AFTER_MS / 4)
  heartbeat.unref()
  try {
    for await (const item of items) {
      progress.rows = item.rows
      nextLine = item.lastLine + 1
      if (item.errors) {
        progress.failed++
        report(item.errors)
        continue
      }
      const candidate = candidateOf(item)
      if (Array.isArray(candidate)) {
        progress.failed++
        report(candidate)
        continue
      }
      progress.variants += candidate.input.variants.length
      batch ??= { items: [], variants: 0, firstLine: item.line, lastLine: item.lastLine }
      batch.items.push({ item, candidate })
      batch.variants += candidate.input.variants.length
      batch.lastLine = item.lastLine
      if (batch.variants >= BATCH_VARIANTS || batch.items.length >= BATCH_PRODUCTS) {
        await submit(batch)
        batch = undefined
      }
    }
    if (batch) await submit(batch)
    batch = undefined
    await settled
    progress.committedLine = nextLine - 1
    const finished = await repo.finishImport(deps.db.primary, id, progress, { status: 'completed' })
    // Best effort: the import is complete either way, and autovacuum analyzes later where it runs.
    if (progress.created + progress.updated >= ANALYZE_AFTER_PRODUCTS) {
      await repo.refreshStatistics(deps.db.primary).catch(() => {})
    }
    return finished
  } catch (err) {
    await Promise.allSettled([...writing])
    await settled.catch(() => {})
    const atLine = progress.committedLine + 1
    const failure = err instanceof AppError ? err.message : `the import stopped: ${(err as Error).message}`
    await repo.finishImport(deps.db.primary, id, progress, { status: 'failed', atLine, failure }).catch(() => {})
    throw err
  } finally {
    clearInterval(heartbeat)
  }
}

export async function getImport({ db }: Pick<ImportDeps, 'db'>, id: number) {
  const row = await repo.findImport(db.primary, id)
  if (!row) throw new AppError('IMPORT_NOT_FOUND', `No import with id ${id}`)
  return repo.rowToImport(row)
}
