import type { Queryable } from '../../db/pool.js'
import type { Attempt, Delivery, Webhook } from './schemas.js'

export interface WebhookRow {
  id: number
  url: string
  event_types: string[]
  description: string | null
  status: 'active' | 'paused' | 'disabled'
  disabled_reason: string | null
  secret: string
  previous_secret: string | null
  previous_secret_expires_at: Date | null
  created_at: Date
  updated_at: Date
}

export const rowToWebhook = (row: WebhookRow): Webhook => ({
  id: row.id,
  url: row.url,
  events: row.event_types,
  description: row.description,
  status: row.status,
  disabledReason: row.disabled_reason,
  previousSecretExpiresAt:
    row.previous_secret_expires_at && row.previous_secret_expires_at > new Date()
      ? row.previous_secret_expires_at.toISOString()
      : null,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString()
})

/** The secrets a delivery is signed with now: the current one, and the previous one until it expires. */
export const signingSecrets = (row: Pick<WebhookRow, 'secret' | 'previous_secret' | 'previous_secret_expires_at'>) =>
  row.previous_secret && row.previous_secret_expires_at && row.previous_secret_expires_at > new Date()
    ? [row.secret, row.previous_secret]
    : [row.secret]

export async function insertWebhook(
  q: Queryable,
  input: { url: string; events: string[]; description: string | null; secret: string }
): Promise<WebhookRow> {
  const { rows } = await q.query<WebhookRow>(
    'INSERT INTO webhooks (url, event_types, description, secret) VALUES ($1, $2, $3, $4) RETURNING *',
    [input.url, input.events, input.description, input.secret]
  )
  return rows[0] as WebhookRow
}

export async function listWebhooks(q: Queryable): Promise<WebhookRow[]> {
  return (await q.query<WebhookRow>('SELECT * FROM webhooks ORDER BY id LIMIT 1000')).rows
}

export async function findWebhook(q: Queryable, id: number): Promise<WebhookRow | undefined> {
  return (await q.query<WebhookRow>('SELECT * FROM webhooks WHERE id = $1', [id])).rows[0]
}

export async function updateWebhook(
  q: Queryable,
  id: number,
  patch: { url?: string; events?: string[]; description?: string | null; status?: 'active' | 'paused' }
): Promise<WebhookRow | undefined> {
  const { rows } = await q.query<WebhookRow>(
    `UPDATE webhooks SET url = coalesce($2, url), event_types = coalesce($3, event_types),
            description = CASE WHEN $4 THEN $5 ELSE description END,
            status = coalesce($6, status),
            disabled_reason = CASE WHEN $6::text IS NULL THEN disabled_reason END,
            updated_at = now()
      WHERE id = $1 RETURNING *`,
    [
      id,
      patch.url ?? null,
      patch.events ?? null,
      patch.description !== undefined,
      patch.description ?? null,
      patch.status ?? null
    ]
  )
  return rows[0]
}

/** The old secret keeps signing for `graceHours`; a second rotation within that time replaces it. */
export async function rotateSecret(
  q: Queryable,
  id: number,
  secret: string,
  graceHours: number
): Promise<WebhookRow | undefined> {
  const { rows } = await q.query<WebhookRow>(
    `UPDATE webhooks SET previous_secret = secret, secret = $2,
            previous_secret_expires_at = now() + make_interval(hours => $3), updated_at = now()
      WHERE id = $1 RETURNING *`,
    [id, secret, graceHours]
  )
  return rows[0]
}

export async function deleteWebhook(q: Queryable, id: number): Promise<boolean> {
  return ((await q.query('DELETE FROM webhooks WHERE id = $1', [id])).rowCount ?? 0) > 0
}

interface DeliveryRow {
  id: number
  event_position: number
  event_type: string
  status: 'pending' | 'delivered' | 'failed'
  attempts: number
  next_attempt_at: Date
  created_at: Date
  delivered_at: Date | null
  log:
    | {
        attempted_at: string
        duration_ms: number
        outcome: Attempt['outcome']
        response_code: number | null
        response_body: string | null
        error: string | null
      }[]
    | null
}

const rowToDelivery = (row: DeliveryRow): Delivery => ({
  id: row.id,
  eventId: row.event_position,
  eventType: row.event_type,
  status: row.status,
  attemptCount: row.attempts,
  nextAttemptAt: row.status === 'pending' ? row.next_attempt_at.toISOString() : null,
  createdAt: row.created_at.toISOString(),
  deliveredAt: row.delivered_at?.toISOString() ?? null,
  attempts: (row.log ?? []).map((a) => ({
    attemptedAt: new Date(a.attempted_at).toISOString(),
    durationMs: a.duration_ms,
    outcome: a.outcome,
    responseCode: a.response_code,
    responseBody: a.response_body,
    error: a.error
  }))
})

const DELIVERY_SELECT = `SELECT d.id, d.event_position, d.event_type, d.status, d.attempts, d.next_attempt_at,
         d.created_at, d.delivered_at,
         (SELECT json_agg(a ORDER BY a.id) FROM (
            SELECT * FROM webhook_attempts WHERE delivery_id = d.id ORDER BY id DESC LIMIT 100) a) AS log
    FROM webhook_deliveries d`

/** The newest deliveries of a subscription, each with its latest attempts. */
export async function listDeliveries(
  q: Queryable,
  webhookId: number,
  status: string | undefined,
  limit: number
): Promise<Delivery[]> {
  const { rows } = await q.query<DeliveryRow>(
    `${DELIVERY_SELECT} WHERE d.webhook_id = $1 AND ($2::text IS NULL OR d.status = $2) ORDER BY d.id DESC LIMIT $3`,
    [webhookId, status ?? null, limit]
  )
  return rows.map(rowToDelivery)
}

/** Makes a delivery due now again (whatever its status); undefined when it is not this subscription's. */
export async function retryDelivery(q: Queryable, webhookId: number, id: number): Promise<Delivery | undefined> {
  const { rowCount } = await q.query(
    `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), leased_until = NULL,
            created_at = CASE WHEN status = 'pending' THEN created_at ELSE now() END
      WHERE id = $1 AND webhook_id = $2`,
    [id, webhookId]
  )
  if (!rowCount) return undefined
  const { rows } = await q.query<DeliveryRow>(`${DELIVERY_SELECT} WHERE d.id = $1`, [id])
  return rows[0] && rowToDelivery(rows[0])
}
