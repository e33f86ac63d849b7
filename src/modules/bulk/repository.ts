import type { Queryable } from '../../db/pool.js'
import type { Import, ImportError, ImportFormat } from './schemas.js'

export interface ImportRow {
  id: number
  status: Import['status']
  format: ImportFormat
  dry_run: boolean
  rows: number
  variants: number
  created: number
  updated: number
  unchanged: number
  failed: number
  error_count: number
  errors: ImportError[]
  committed_line: number
  failed_at_line: number | null
  failure: string | null
  started_at: Date
  heartbeat_at: Date
  finished_at: Date | null
}

/** Progress as the import's runner keeps it between batches. */
export interface Progress {
  /** For CSV, the layout its header named. */
  format: ImportFormat
  rows: number
  variants: number
  created: number
  updated: number
  unchanged: number
  failed: number
  errorCount: number
  errors: ImportError[]
  committedLine: number
}

/** An import whose runner wrote nothing for this long is taken as stopped (its instance is gone). */
export const STALE_AFTER_MS = 60_000

export const rowToImport = (row: ImportRow): Import => {
  const end = row.finished_at ?? row.heartbeat_at
  const seconds = Math.max((end.getTime() - row.started_at.getTime()) / 1000, 0.001)
  return {
    id: row.id,
    status: row.status,
    format: row.format,
    dryRun: row.dry_run,
    rows: row.rows,
    variants: row.variants,
    rowsPerSecond: Math.round(row.rows / seconds),
    counts: { created: row.created, updated: row.updated, unchanged: row.unchanged, failed: row.failed },
    errorCount: row.error_count,
    errors: row.errors,
    failedAtLine: row.failed_at_line,
    failure: row.failure,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null
  }
}

export async function insertImport(
  q: Queryable,
  input: { format: ImportFormat; dryRun: boolean; apiKeyId: number | null }
): Promise<ImportRow> {
  const { rows } = await q.query<ImportRow>(
    'INSERT INTO imports (format, dry_run, api_key_id) VALUES ($1, $2, $3) RETURNING *',
    [input.format, input.dryRun, input.apiKeyId]
  )
  return rows[0] as ImportRow
}

const PROGRESS = `format = $11, rows = $2, variants = $3, created = $4, updated = $5, unchanged = $6, failed = $7, error_count = $8,
  errors = $9::jsonb, committed_line = $10, heartbeat_at = clock_timestamp()`
const progressValues = (id: number, p: Progress) => [
  id,
  p.rows,
  p.variants,
  p.created,
  p.updated,
  p.unchanged,
  p.failed,
  p.errorCount,
  JSON.stringify(p.errors),
  p.committedLine,
  p.format
]

export async function saveProgress(q: Queryable, id: number, p: Progress): Promise<void> {
  await q.query(`UPDATE imports SET ${PROGRESS} WHERE id = $1`, progressValues(id, p))
}

export async function heartbeat(q: Queryable, id: number): Promise<void> {
  await q.query(`UPDATE imports SET heartbeat_at = clock_timestamp() WHERE id = $1 AND status = 'running'`, [id])
}

export async function finishImport(
  q: Queryable,
  id: number,
  p: Progress,
  end: { status: 'completed' } | { status: 'failed'; atLine: number; failure: string }
): Promise<ImportRow> {
  const { rows } = await q.query<ImportRow>(
    `UPDATE imports SET ${PROGRESS}, status = $12, failed_at_line = $13, failure = $14, finished_at = clock_timestamp()
      WHERE id = $1 RETURNING *`,
    [
      ...progressValues(id, p),
      end.status,
      end.status === 'failed' ? end.atLine : null,
      end.status === 'failed' ? end.failure.slice(0, 500) : null
    ]
  )
  return rows[0] as ImportRow
}

/**
 * Fresh planner statistics for the catalog's tables. After an import that wrote many products the planner would
 * otherwise plan on the counts from before it until autovacuum analyzes them (or never, where it is off): an export
 * of a just-imported catalog was planned as a hash join and a sort of every document instead of a merge of the
 * primary keys, four times slower.
 */
export async function refreshStatistics(q: Queryable): Promise<void> {
  await q.query('ANALYZE products, product_variants, product_prices, product_documents')
}

/** The import; one still marked running without a heartbeat for STALE_AFTER_MS is marked failed first. */
export async function findImport(q: Queryable, id: number): Promise<ImportRow | undefined> {
  const { rows } = await q.query<ImportRow>(
    `WITH stopped AS (
       UPDATE imports SET status = 'failed', failed_at_line = committed_line + 1, finished_at = heartbeat_at,
              failure = 'the import stopped (its instance went away); send the file again to finish it'
        WHERE id = $1 AND status = 'running' AND heartbeat_at < clock_timestamp() - make_interval(secs => $2 / 1000.0)
       RETURNING *
     )
     SELECT * FROM stopped UNION ALL SELECT * FROM imports WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM stopped)`,
    [id, STALE_AFTER_MS]
  )
  return rows[0]
}
