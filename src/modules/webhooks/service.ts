import type { Queryable } from '../../db/pool.js'
import { AppError } from '../../errors.js'
import type { ChangeEvent } from '../../writes/events.js'
import * as repo from './repository.js'
import type {
  Attempt,
  CreateWebhook,
  Delivery,
  ListDeliveriesQuery,
  UpdateWebhook,
  Webhook,
  WebhookWithSecret
} from './schemas.js'
import { send, type SendOptions } from './sender.js'
import { newSecret, signedHeaders } from './signing.js'
import { checkWebhookUrl, RefusedUrl, type UrlPolicy } from './ssrf.js'

export interface WebhookDeps {
  db: Queryable
  policy: UrlPolicy
  send: Omit<SendOptions, 'policy'>
}

/** After a rotation the old secret signs too, this long. */
export const ROTATION_GRACE_HOURS = 24

async function checkedUrl(raw: string, policy: UrlPolicy): Promise<string> {
  try {
    return (await checkWebhookUrl(raw, policy)).href
  } catch (err) {
    if (!(err instanceof RefusedUrl)) throw err
    throw new AppError('WEBHOOK_URL_REFUSED', `url ${err.message}`, [{ field: 'url', message: err.message }])
  }
}

const notFound = (id: number) => new AppError('WEBHOOK_NOT_FOUND', `webhook ${id} does not exist`)

export async function createWebhook(deps: WebhookDeps, input: CreateWebhook): Promise<WebhookWithSecret> {
  const url = await checkedUrl(input.url, deps.policy)
  const secret = newSecret()
  const row = await repo.insertWebhook(deps.db, {
    url,
    events: input.events,
    description: input.description ?? null,
    secret
  })
  return { ...repo.rowToWebhook(row), secret }
}

export async function listWebhooks(deps: WebhookDeps): Promise<Webhook[]> {
  return (await repo.listWebhooks(deps.db)).map(repo.rowToWebhook)
}

export async function getWebhook(deps: WebhookDeps, id: number): Promise<Webhook> {
  const row = await repo.findWebhook(deps.db, id)
  if (!row) throw notFound(id)
  return repo.rowToWebhook(row)
}

/** Changes the URL (checked again), types, description, or pauses / resumes (also a disabled one). */
export async function updateWebhook(deps: WebhookDeps, id: number, patch: UpdateWebhook): Promise<Webhook> {
  const url = patch.url === undefined ? undefined : await checkedUrl(patch.url, deps.policy)
  const row = await repo.updateWebhook(deps.db, id, { ...patch, url })
  if (!row) throw notFound(id)
  return repo.rowToWebhook(row)
}

export async function rotateSecret(deps: WebhookDeps, id: number): Promise<WebhookWithSecret> {
  const secret = newSecret()
  const row = await repo.rotateSecret(deps.db, id, secret, ROTATION_GRACE_HOURS)
  if (!row) throw notFound(id)
  return { ...repo.rowToWebhook(row), secret }
}

export async function deleteWebhook(deps: WebhookDeps, id: number): Promise<void> {
  if (!(await repo.deleteWebhook(deps.db, id))) throw notFound(id)
}

export async function listDeliveries(deps: WebhookDeps, id: number, query: ListDeliveriesQuery): Promise<Delivery[]> {
  await getWebhook(deps, id)
  return repo.listDeliveries(deps.db, id, query.status, query.limit)
}

export async function retryDelivery(deps: WebhookDeps, id: number, deliveryId: number): Promise<Delivery> {
  await getWebhook(deps, id)
  const delivery = await repo.retryDelivery(deps.db, id, deliveryId)
  if (!delivery) throw new AppError('DELIVERY_NOT_FOUND', `delivery ${deliveryId} does not exist for webhook ${id}`)
  return delivery
}

/** Sends a signed `webhook.test` event now and answers how the receiver took it (nothing is queued or retried). */
export async function testWebhook(deps: WebhookDeps, id: number, requestId: string): Promise<Attempt> {
  const row = await repo.findWebhook(deps.db, id)
  if (!row) throw notFound(id)
  const attemptedAt = new Date()
  const event: Omit<ChangeEvent, 'id'> & { id: string } = {
    id: `test_${requestId}`,
    type: 'webhook.test',
    occurredAt: attemptedAt.toISOString(),
    entity: { type: 'webhook', id: row.id },
    data: { url: row.url },
    changedFields: [],
    requestId,
    actor: { type: 'system', id: null, name: 'webhook-test', role: null }
  }
  const body = JSON.stringify(event)
  const result = await send(row.url, signedHeaders(repo.signingSecrets(row), event.id, body), body, {
    ...deps.send,
    policy: deps.policy
  })
  return { attemptedAt: attemptedAt.toISOString(), ...result }
}
