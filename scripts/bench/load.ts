import autocannon from 'autocannon'

export const WARMUP_SECONDS = 2

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH'
  path: string
  headers?: Record<string, string>
  body?: string
}

/** A fixed request, or a function called for every request (random ids, unique skus). */
export type RequestSource = HttpRequest | (() => HttpRequest)

export interface LoadSettings {
  connections: number
  duration: number
}

export interface LatencySummary {
  p50: number
  p95: number
  p99: number
  mean: number
  max: number
}

export interface LoadResult {
  reqPerSec: number
  requests: number
  bytesPerSec: number
  latencyMs: LatencySummary
  non2xx: number
  errors: number
  timeouts: number
  statusCodes: Record<string, number>
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

/** Nearest-rank percentiles over every response's latency (autocannon itself reports no p95). */
export function summarize(latencies: Float64Array): LatencySummary {
  if (latencies.length === 0) return { p50: 0, p95: 0, p99: 0, mean: 0, max: 0 }
  const sorted = latencies.slice().sort()
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    p50: round(at(50)),
    p95: round(at(95)),
    p99: round(at(99)),
    mean: round(sum / sorted.length),
    max: round(at(100))
  }
}

/** Collects numbers into a growing Float64Array: a 10 s run can answer a few hundred thousand requests. */
class Samples {
  private data = new Float64Array(1 << 16)
  private length = 0
  push(value: number) {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[this.length++] = value
  }
  values() {
    return this.data.subarray(0, this.length)
  }
}

function toAutocannonRequest(source: RequestSource): autocannon.Request {
  if (typeof source !== 'function') return { ...source }
  // autocannon rebuilds the request for every call when it has a setupRequest.
  return { setupRequest: (request) => ({ ...request, ...source() }) }
}

let current: autocannon.Instance | undefined

/** Stops the autocannon run in progress, if any (on Ctrl+C). */
export function stopCurrentRun(): void {
  current?.stop()
}

interface RawRun {
  seconds: number
  requests: number
  bytes: number
  latencies: Float64Array
  non2xx: number
  errors: number
  timeouts: number
  statusCodes: Record<string, number>
}

function run(url: string, source: RequestSource, settings: LoadSettings, title: string): Promise<RawRun> {
  const latencies = new Samples()
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        title,
        connections: settings.connections,
        duration: settings.duration,
        requests: [toAutocannonRequest(source)]
      },
      (err, result) => {
        current = undefined
        if (err) return reject(err instanceof Error ? err : new Error(String(err)))
        const statusCodes = Object.fromEntries(
          Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0])
        )
        resolve({
          seconds: result.duration,
          requests: result.requests.total,
          bytes: result.throughput.total,
          latencies: latencies.values(),
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          statusCodes
        })
      }
    )
    current = instance
    instance.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime))
  })
}

/** Several runs as one: request rate over their summed time, percentiles over all their responses. */
function combine(runs: RawRun[]): LoadResult {
  const seconds = runs.reduce((a, r) => a + r.seconds, 0)
  const requests = runs.reduce((a, r) => a + r.requests, 0)
  const latencies = new Float64Array(runs.reduce((a, r) => a + r.latencies.length, 0))
  let at = 0
  for (const r of runs) {
    latencies.set(r.latencies, at)
    at += r.latencies.length
  }
  const statusCodes: Record<string, number> = {}
  for (const r of runs)
    for (const [code, n] of Object.entries(r.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n
  return {
    reqPerSec: seconds > 0 ? round(requests / seconds, 1) : 0,
    requests,
    bytesPerSec: seconds > 0 ? round(runs.reduce((a, r) => a + r.bytes, 0) / seconds, 0) : 0,
    latencyMs: summarize(latencies),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    timeouts: runs.reduce((a, r) => a + r.timeouts, 0),
    statusCodes
  }
}

export interface RoundsResult {
  api: LoadResult
  /** One per ceiling, in the order given. */
  ceilings: LoadResult[]
  /** api ÷ ceiling request rate of each round, in order, one list per ceiling. */
  roundRatios: number[][]
}

/** What the API is compared with: a URL answering the API's own requests, or a server with requests of its own. */
export type Comparison = string | { url: string; source: RequestSource }

/**
 * The API and each comparison, each warmed up for WARMUP_SECONDS, then measured in `rounds` alternating slices
 * of duration/rounds seconds: on a shared machine whose speed drifts, all sides see the same stretches of time.
 */
export async function measureRounds(
  apiUrl: string,
  comparisons: Comparison[],
  source: RequestSource,
  settings: LoadSettings & { rounds: number },
  title: string,
  beforeApiRun: () => Promise<void> = async () => {}
): Promise<RoundsResult> {
  const targets = comparisons.map((c) => (typeof c === 'string' ? { url: c, source } : c))
  await beforeApiRun()
  await run(apiUrl, source, { ...settings, duration: WARMUP_SECONDS }, `${title} (warm-up)`)
  for (const target of targets)
    await run(target.url, target.source, { ...settings, duration: WARMUP_SECONDS }, `${title} ceiling (warm-up)`)
  const slice = { ...settings, duration: Math.max(1, Math.round(settings.duration / settings.rounds)) }
  const api: RawRun[] = []
  const ceilings: RawRun[][] = targets.map(() => [])
  const roundRatios: number[][] = targets.map(() => [])
  for (let i = 0; i < settings.rounds; i++) {
    await beforeApiRun()
    const a = await run(apiUrl, source, slice, title)
    api.push(a)
    for (const [j, target] of targets.entries()) {
      const c = await run(target.url, target.source, slice, `${title} ceiling`)
      ceilings[j]?.push(c)
      roundRatios[j]?.push(c.requests > 0 ? round(a.requests / a.seconds / (c.requests / c.seconds), 4) : 0)
    }
  }
  return { api: combine(api), ceilings: ceilings.map(combine), roundRatios }
}
