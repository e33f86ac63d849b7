import type pg from 'pg'
import { signingSecrets } from './repository.js'
import { type AttemptResult, send, type SendOptions } from './sender.js'
import { signedHeaders } from './signing.js'
import { nextDelayMs, type RetrySchedule } from './schedule.js'

interface ClaimedRow {
  id: number
  webhook_id: number
  event_position: number
  event: Record<string, unknown>
  attempts: number
  age_ms: number
  url: string
  secret: string
  previous_secret: string | null
  previous_secret_expires_at: Date | null
}

/**
 * Leases up to `limit` due deliveries (FOR UPDATE SKIP LOCKED: instances never take the same row). Only the oldest
 * pending delivery of each (subscription, entity) is due, so one entity's events reach a subscriber in commit order;
 * a lease that outlives its holder (a process killed mid-delivery) expires and the delivery is due again.
 */
export async function claimDue(pool: pg.Pool, limit: number, leaseMs: number): Promise<ClaimedRow[]> {
  const { rows } = await pool.query<ClaimedRow>(
    `WITH due AS (
       SELECT d.id FROM webhook_deliveries d
        WHERE d.status = 'pending' AND d.next_attempt_at <= now()
          AND (d.leased_until IS NULL OR d.leased_until < now())
          AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id AND w.status = 'active')
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                           WHERE p.webhook_id = d.webhook_id AND p.entity_key = d.entity_key
                             AND p.status = 'pending' AND p.event_position < d.event_position)
        ORDER BY d.next_attempt_at, d.id
        LIMIT $1
        FOR UPDATE OF d SKIP LOCKED
     )
     UPDATE webhook_deliveries d
        SET leased_until = now() + make_interval(secs => $2 / 1000.0), attempts = d.attempts + 1
       FROM due, webhooks w
      WHERE d.id = due.id AND w.id = d.webhook_id
     RETURNING d.id, d.webhook_id, d.event_position, d.event, d.attempts,
               (extract(epoch FROM now() - d.created_at) * 1000)::float8 AS age_ms,
               w.url, w.secret, w.previous_secret, w.previous_secret_expires_at`,
    [limit, leaseMs]
  )
  return rows
}

export interface Outcome {
  result: AttemptResult
  /** The subscription was disabled: this delivery failed for the whole schedule. */
  disabled: boolean
}

/** Stores the attempt and the delivery's next state; after the last failure, disables the subscription. */
async function record(
  pool: pg.Pool,
  row: ClaimedRow,
  result: AttemptResult,
  schedule: RetrySchedule
): Promise<boolean> {
  const delay = result.outcome === 'delivered' ? 0 : nextDelayMs(schedule, row.attempts, row.age_ms)
  const status = result.outcome === 'delivered' ? 'delivered' : delay === null ? 'failed' : 'pending'
  const reason =
    status === 'failed'
      ? `event ${row.event_position} not delivered after ${row.attempts} attempts over ${Math.round(row.age_ms / 1000)} s; last: ${result.outcome}${result.responseCode ? ` ${result.responseCode}` : ''}${result.error ? ` (${result.error})` : ''}`.slice(
          0,
          1000
        )
      : null
  await pool.query(
    `WITH attempt AS (
       INSERT INTO webhook_attempts (delivery_id, duration_ms, outcome, response_code, response_body, error)
       VALUES ($1, $2, $3, $4, $5, $6)
     ), disabled AS (
       UPDATE webhooks SET status = 'disabled', disabled_reason = $9, updated_at = now()
        WHERE id = $10 AND $9::text IS NOT NULL AND status <> 'disabled'
     )
     UPDATE webhook_deliveries SET status = $7, leased_until = NULL,
            next_attempt_at = now() + make_interval(secs => $8 / 1000.0),
            delivered_at = CASE WHEN $7 = 'delivered' THEN now() END
      WHERE id = $1`,
    [
      row.id,
      result.durationMs,
      result.outcome,
      result.responseCode,
      result.responseBody,
      result.error,
      status,
      delay ?? 0,
      reason,
      row.webhook_id
    ]
  )
  return reason !== null
}

/** One attempt of a leased delivery: signed with the subscription's current (and, after a rotation, old) secret. */
export async function deliver(
  pool: pg.Pool,
  row: ClaimedRow,
  schedule: RetrySchedule,
  options: SendOptions
): Promise<Outcome> {
  const id = `evt_${row.event_position}`
  const body = JSON.stringify(row.event)
  const result = await send(row.url, signedHeaders(signingSecrets(row), id, body), body, options)
  return { result, disabled: await record(pool, row, result, schedule) }
}
