import type pg from 'pg'
import { signingSecrets } from './repository.js'
import { type AttemptResult, send, type SendOptions } from './sender.js'
import { signedHeaders } from './signing.js'
import { nextDelayMs, type RetrySchedule } from './schedule.js'

export interface ClaimedRow {
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

export interface Finished {
  row: ClaimedRow
  result: AttemptResult
}

/** The delivery's next state after `result`, and the reason to disable the subscription when the schedule ended. */
function nextState(row: ClaimedRow, result: AttemptResult, schedule: RetrySchedule) {
  const delay = result.outcome === 'delivered' ? 0 : nextDelayMs(schedule, row.attempts, row.age_ms)
  const status = result.outcome === 'delivered' ? 'delivered' : delay === null ? 'failed' : 'pending'
  const last = `${result.outcome}${result.responseCode ? ` ${result.responseCode}` : ''}${result.error ? ` (${result.error})` : ''}`
  const reason =
    status === 'failed'
      ? `event ${row.event_position} not delivered after ${row.attempts} attempts over ${Math.round(row.age_ms / 1000)} s; last: ${last}`.slice(
          0,
          1000
        )
      : null
  return { status, delayMs: delay ?? 0, reason }
}

/**
 * Stores finished attempts and their deliveries' next states in one statement; after a delivery's last failure, its
 * subscription is disabled. The ids of the subscriptions disabled.
 */
export async function recordAttempts(pool: pg.Pool, finished: Finished[], schedule: RetrySchedule): Promise<number[]> {
  if (!finished.length) return []
  const records = finished.map(({ row, result }) => {
    const next = nextState(row, result, schedule)
    return {
      id: row.id,
      webhook_id: row.webhook_id,
      duration_ms: result.durationMs,
      outcome: result.outcome,
      response_code: result.responseCode,
      response_body: result.responseBody,
      error: result.error,
      status: next.status,
      delay_ms: next.delayMs,
      reason: next.reason
    }
  })
  const { rows } = await pool.query<{ id: number }>(
    `WITH r AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, webhook_id integer, duration_ms integer,
              outcome text, response_code integer, response_body text, error text, status text, delay_ms float8,
              reason text)
     ), attempts AS (
       INSERT INTO webhook_attempts (delivery_id, duration_ms, outcome, response_code, response_body, error)
       SELECT id, duration_ms, outcome, response_code, response_body, error FROM r
     ), deliveries AS (
       UPDATE webhook_deliveries d SET status = r.status, leased_until = NULL,
              next_attempt_at = now() + make_interval(secs => r.delay_ms / 1000.0),
              delivered_at = CASE WHEN r.status = 'delivered' THEN now() END
         FROM r WHERE d.id = r.id
     )
     UPDATE webhooks w SET status = 'disabled', disabled_reason = r.reason, updated_at = now()
       FROM r WHERE w.id = r.webhook_id AND r.reason IS NOT NULL AND w.status <> 'disabled'
     RETURNING w.id`,
    [JSON.stringify(records)]
  )
  return rows.map((r) => r.id)
}

/** One attempt of a leased delivery: signed with the subscription's current (and, after a rotation, old) secret. */
export function attempt(row: ClaimedRow, options: SendOptions): Promise<AttemptResult> {
  const id = `evt_${row.event_position}`
  const body = JSON.stringify(row.event)
  return send(row.url, signedHeaders(signingSecrets(row), id, body), body, options)
}
