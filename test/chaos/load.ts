// Steady load through nginx: reads (list pages, single products) and writes (creates with an Idempotency-Key),
// from a few concurrent clients, bounded in time and in count, on loopback only.
import { randomBytes } from 'node:crypto'

export interface Sample {
  at: number
  op: 'list' | 'get' | 'create'
  status: number // 0: no HTTP answer (connection error or client timeout)
  ms: number
  error?: string
  problem?: { code?: string; contentType: string | null; retryAfter: string | null }
}

export interface LoadOptions {
  url: string
  adminKey: string
  /** Product ids that exist (the seeded catalog). */
  productIds: number
  concurrency?: number
  /** Pause of each client between its requests. */
  pauseMs?: number
  maxRequests?: number
  maxMs?: number
  writeShare?: number
}

export interface Load {
  samples: Sample[]
  stop(): Promise<Sample[]>
  /** The samples taken between two moments (performance.now()). */
  between(from: number, to?: number): Sample[]
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function startLoad(opts: LoadOptions): Load {
  const samples: Sample[] = []
  const started = performance.now()
  const maxRequests = opts.maxRequests ?? 20_000
  const maxMs = opts.maxMs ?? 120_000
  let stopped = false
  let sent = 0
  const run = randomBytes(4).toString('hex')
  const auth = { authorization: `Bearer ${opts.adminKey}` }

  async function one(): Promise<void> {
    const roll = Math.random()
    const op: Sample['op'] = roll < (opts.writeShare ?? 0.15) ? 'create' : roll < 0.55 ? 'get' : 'list'
    const n = sent++
    const at = performance.now()
    let request: Promise<Response>
    const signal = AbortSignal.timeout(5000)
    if (op === 'create') {
      request = fetch(`${opts.url}/api/v1/products`, {
        method: 'POST',
        signal,
        headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': `load-${run}-${n}` },
        body: JSON.stringify({ sku: `LOAD-${run}-${n}`, name: `Load ${n}`, priceCents: 100 + n, currency: 'USD' })
      })
    } else if (op === 'get') {
      const id = 1 + Math.floor(Math.random() * opts.productIds)
      request = fetch(`${opts.url}/api/v1/products/${id}`, { signal, headers: auth })
    } else {
      const minPrice = 100 * Math.floor(Math.random() * 50)
      request = fetch(`${opts.url}/api/v1/products?limit=20&minPrice=${minPrice}`, { signal, headers: auth })
    }
    const sample: Sample = { at, op, status: 0, ms: 0 }
    try {
      const res = await request
      const body = await res.text()
      sample.status = res.status
      if (res.status >= 400) {
        let code: string | undefined
        try {
          code = (JSON.parse(body) as { code?: string }).code
        } catch {
          code = body.slice(0, 80)
        }
        sample.problem = {
          code,
          contentType: res.headers.get('content-type'),
          retryAfter: res.headers.get('retry-after')
        }
      }
    } catch (err) {
      sample.error =
        err instanceof Error ? `${err.name}: ${(err.cause as Error | undefined)?.message ?? err.message}` : String(err)
    }
    sample.ms = performance.now() - at
    samples.push(sample)
  }

  const client = async () => {
    while (!stopped && sent < maxRequests && performance.now() - started < maxMs) {
      await one()
      await sleep(opts.pauseMs ?? 10)
    }
  }
  const clients = Promise.all(Array.from({ length: opts.concurrency ?? 4 }, client))
  return {
    samples,
    async stop() {
      stopped = true
      await clients
      return samples
    },
    between(from, to = Infinity) {
      return samples.filter((s) => s.at >= from && s.at < to)
    }
  }
}

export interface Figures {
  requests: number
  perSecond: number
  byStatus: Record<string, number>
  failed: number
  serverErrors: number
  maxMs: number
  p50Ms: number
  p99Ms: number
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0

/** Counts and latencies; `failed` = no HTTP answer or a status ≥ 500. */
export function figures(samples: Sample[]): Figures {
  const byStatus: Record<string, number> = {}
  for (const s of samples) byStatus[s.status || 'no answer'] = (byStatus[s.status || 'no answer'] ?? 0) + 1
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b)
  const span =
    samples.length > 1 ? (Math.max(...samples.map((s) => s.at)) - Math.min(...samples.map((s) => s.at))) / 1000 : 1
  const round = (n: number) => Math.round(n * 10) / 10
  return {
    requests: samples.length,
    perSecond: Math.round(samples.length / Math.max(span, 0.001)),
    byStatus,
    failed: samples.filter((s) => s.status === 0 || s.status >= 500).length,
    serverErrors: samples.filter((s) => s.status >= 500).length,
    maxMs: round(ms.at(-1) ?? 0),
    p50Ms: round(quantile(ms, 0.5)),
    p99Ms: round(quantile(ms, 0.99))
  }
}

/** A few failing samples, for an assertion message. */
export function describeFailures(samples: Sample[], limit = 5): string {
  return samples
    .filter((s) => s.status === 0 || s.status >= 500)
    .slice(0, limit)
    .map((s) => `${s.op} → ${s.status || s.error} ${s.problem?.code ?? ''} after ${Math.round(s.ms)} ms`)
    .join('; ')
}

/** The slowest samples as "op ms @ seconds after `origin`", to tell a fault's cost from a busy machine. */
export function slowest(samples: Sample[], origin: number, count = 3): string {
  return [...samples]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, count)
    .map((s) => `${s.op} ${Math.round(s.ms)} ms @ ${((s.at - origin) / 1000).toFixed(1)} s`)
    .join('; ')
}
