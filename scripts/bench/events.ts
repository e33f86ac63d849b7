// The change-event scenarios of npm run bench: webhook deliveries per second to a local receiver, the write path
// with and without events, and how soon a long poll of the feed returns a new event.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type pg from 'pg'
import { note } from './processes.js'

export const EVENT_SCENARIOS = ['webhook-deliveries', 'write-with-events', 'feed-latency'] as const
export type EventScenarioName = (typeof EVENT_SCENARIOS)[number]

export interface StartedServer {
  url: string
  stop: () => Promise<void>
}

export interface EventBenchContext {
  client: pg.Client
  apiKey: string
  skuPrefix: string
  connections: number
  duration: number
  start: (env: NodeJS.ProcessEnv, label: string) => Promise<StartedServer>
}

export interface EventScenarioResult {
  name: EventScenarioName
  description: string
  details: Record<string, unknown>
}

/** Settings every server of these scenarios shares: webhooks may reach the local receiver. */
const LOCAL_WEBHOOKS = { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
const round1 = (n: number) => Math.round(n * 10) / 10

async function api(base: string, key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined
  })
  const text = await res.text()
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return text ? (JSON.parse(text) as { data: unknown; nextCursor?: number }) : undefined
}

/** A receiver that answers 204 to everything and counts. */
async function startReceiver() {
  let received = 0
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      received += 1
      res.writeHead(204).end()
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received: () => received,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(resolve))
    }
  }
}

/**
 * Deliveries per second, end to end (lease, sign, POST, record), by one instance: N deliveries of a real event's
 * payload are queued at once for a subscription to a local receiver (N entities, so none waits for another), and
 * the time until the last is recorded delivered is taken.
 */
async function webhookDeliveries(ctx: EventBenchContext): Promise<EventScenarioResult> {
  const receiver = await startReceiver()
  const server = await ctx.start({ ...LOCAL_WEBHOOKS, WEBHOOK_DISPATCH_INTERVAL_MS: '100' }, 'deliveries')
  try {
    const hook = (await api(server.url, ctx.apiKey, 'POST', '/webhooks', { url: receiver.url, events: ['*'] })) as {
      data: { id: number }
    }
    const product = (await api(server.url, ctx.apiKey, 'POST', '/products', {
      sku: `${ctx.skuPrefix}HOOK`,
      name: 'Webhook bench',
      priceCents: 100,
      currency: 'EUR'
    })) as { data: Record<string, unknown> }
    const count = 20_000
    const event = { type: 'product.updated', entity: { type: 'product', id: 0 }, data: product.data }
    const started = Date.now()
    await ctx.client.query(
      `INSERT INTO webhook_deliveries (webhook_id, event_position, event_type, entity_key, event)
       SELECT $1, -g, 'product.updated', 'bench:' || g, $2::jsonb || jsonb_build_object('id', g)
         FROM generate_series(1, $3) g`,
      [hook.data.id, JSON.stringify(event), count]
    )
    for (;;) {
      const { rows } = await ctx.client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'delivered'`,
        [hook.data.id]
      )
      if ((rows[0]?.n ?? 0) >= count) break
      if (Date.now() - started > 300_000) throw new Error(`only ${rows[0]?.n} of ${count} delivered in 300 s`)
      await sleep(100)
    }
    const seconds = (Date.now() - started) / 1000
    await api(server.url, ctx.apiKey, 'DELETE', `/webhooks/${hook.data.id}`)
    const perSecond = Math.round(count / seconds)
    note(
      `webhook-deliveries: ${count} in ${seconds.toFixed(2)} s → ${perSecond}/s (receiver saw ${receiver.received()})`
    )
    return {
      name: 'webhook-deliveries',
      description: `${count} queued deliveries to a local receiver, one instance, WEBHOOK_CONCURRENCY default`,
      details: { deliveries: count, seconds: round1(seconds), perSecond, receiverRequests: receiver.received() }
    }
  } finally {
    await server.stop()
    await receiver.close()
  }
}

/** POST /products from `connections` clients for `seconds`; creates per second. */
async function createLoad(ctx: EventBenchContext, url: string, seconds: number, tag: string): Promise<number> {
  const until = Date.now() + seconds * 1000
  let done = 0
  let n = 0
  await Promise.all(
    Array.from({ length: ctx.connections }, async () => {
      while (Date.now() < until) {
        const i = n++
        await api(url, ctx.apiKey, 'POST', '/products', {
          sku: `${ctx.skuPrefix}${tag}-${i}`,
          name: `Event bench ${i}`,
          priceCents: i,
          currency: 'EUR'
        })
        done += 1
      }
    })
  )
  return done / seconds
}

/**
 * The write path with events (the sealer records an event per change) against the same without (EVENTS_ENABLED=
 * false), alternating rounds on one server at a time (the setting is the sealer's, so it must be fleet-wide).
 */
async function writeWithEvents(ctx: EventBenchContext): Promise<EventScenarioResult> {
  const rounds = 2
  const seconds = Math.max(3, Math.round(ctx.duration / rounds))
  const rates: { with: number[]; without: number[] } = { with: [], without: [] }
  for (let r = 0; r < rounds; r++) {
    for (const mode of ['with', 'without'] as const) {
      const server = await ctx.start(
        { EVENTS_ENABLED: mode === 'with' ? 'true' : 'false', WEBHOOK_DISPATCH_ENABLED: 'false' },
        `events-${mode}`
      )
      try {
        await createLoad(ctx, server.url, 1, `W${r}${mode}warm`)
        rates[mode].push(round1(await createLoad(ctx, server.url, seconds, `W${r}${mode}`)))
      } finally {
        await server.stop()
      }
    }
  }
  const sum = (list: number[]) => list.reduce((a, b) => a + b, 0)
  const ratio = Math.round((sum(rates.with) / sum(rates.without)) * 1000) / 1000
  note(`write-with-events: with ${rates.with.join(', ')} /s, without ${rates.without.join(', ')} /s → ${ratio}`)
  return {
    name: 'write-with-events',
    description: `POST /products from ${ctx.connections} clients, events on vs EVENTS_ENABLED=false, ${rounds} rounds of ${seconds} s each`,
    details: { createsPerSecondWith: rates.with, createsPerSecondWithout: rates.without, ratio }
  }
}

/**
 * From sending a write to one instance until a long poll (wait=30) on another instance returns its event: the
 * seal after the write, the NOTIFY, the re-read. 50 writes one after another.
 */
async function feedLatency(ctx: EventBenchContext): Promise<EventScenarioResult> {
  const writer = await ctx.start({ WEBHOOK_DISPATCH_ENABLED: 'false' }, 'feed-writer')
  const reader = await ctx.start({ WEBHOOK_DISPATCH_ENABLED: 'false', AUDIT_SEAL_INTERVAL_MS: '0' }, 'feed-reader')
  try {
    const head = (await api(reader.url, ctx.apiKey, 'GET', '/events?limit=1000')) as { nextCursor: number }
    let cursor = head.nextCursor
    for (;;) {
      const page = (await api(reader.url, ctx.apiKey, 'GET', `/events?after=${cursor}&limit=1000`)) as {
        data: unknown[]
        nextCursor: number
      }
      cursor = page.nextCursor
      if (!page.data.length) break
    }
    const latencies: number[] = []
    const sinceCommit: number[] = []
    for (let i = 0; i < 50; i++) {
      const poll = api(reader.url, ctx.apiKey, 'GET', `/events?after=${cursor}&wait=30`)
      await sleep(20)
      const sent = performance.now()
      let committed = 0
      await api(writer.url, ctx.apiKey, 'POST', '/products', {
        sku: `${ctx.skuPrefix}FEED-${i}`,
        name: 'Feed latency',
        priceCents: 1,
        currency: 'EUR'
      }).then(() => (committed = performance.now()))
      const page = (await poll) as { data: unknown[]; nextCursor: number }
      const answered = performance.now()
      latencies.push(answered - sent)
      // The write's answer comes right after its commit: from then (0 if the poll answered first).
      sinceCommit.push(Math.max(0, answered - committed))
      cursor = page.nextCursor
    }
    const sorted = latencies.sort((a, b) => a - b)
    const p50 = round1(percentile(sorted, 50))
    const p99 = round1(percentile(sorted, 99))
    const afterCommit = sinceCommit.sort((a, b) => a - b)
    const commitP50 = round1(percentile(afterCommit, 50))
    const commitP99 = round1(percentile(afterCommit, 99))
    note(
      `feed-latency: long poll on another instance answered p50 ${p50} ms / p99 ${p99} ms after the write was sent, ` +
        `p50 ${commitP50} ms / p99 ${commitP99} ms after its answer (commit)`
    )
    return {
      name: 'feed-latency',
      description: 'write sent to one instance → a long poll on another returns its event (50 writes)',
      details: {
        p50Ms: p50,
        p99Ms: p99,
        maxMs: round1(sorted.at(-1) ?? Number.NaN),
        afterCommitP50Ms: commitP50,
        afterCommitP99Ms: commitP99
      }
    }
  } finally {
    await reader.stop()
    await writer.stop()
  }
}

const RUN: Record<EventScenarioName, (ctx: EventBenchContext) => Promise<EventScenarioResult>> = {
  'webhook-deliveries': webhookDeliveries,
  'write-with-events': writeWithEvents,
  'feed-latency': feedLatency
}

export async function runEventScenario(
  name: EventScenarioName,
  ctx: EventBenchContext
): Promise<EventScenarioResult & { failure?: string }> {
  try {
    return await RUN[name](ctx)
  } catch (err) {
    note(`${name} FAILED: ${(err as Error).message}`)
    return { name, description: name, details: {}, failure: (err as Error).message }
  }
}
