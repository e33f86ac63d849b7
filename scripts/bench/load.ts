import autocannon from 'autocannon'

export const WARMUP_SECONDS = 2

export interface HttpRequest {
  method: 'GET' | 'POST'
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
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0
  const sum = sorted.reduce((a, b) => a + b, 0)
  return { p50: round(at(50)), p95: round(at(95)), p99: round(at(99)), mean: round(sum / sorted.length), max: round(at(100)) }
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

function run(url: string, source: RequestSource, settings: LoadSettings, title: string): Promise<LoadResult> {
  const latencies = new Samples()
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { url, title, connections: settings.connections, duration: settings.duration, requests: [toAutocannonRequest(source)] },
      (err, result) => {
        current = undefined
        if (err) return reject(err)
        const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0]))
        resolve({
          reqPerSec: round(result.requests.average, 1),
          requests: result.requests.total,
          bytesPerSec: round(result.throughput.average, 0),
          latencyMs: summarize(latencies.values()),
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

/** A WARMUP_SECONDS run whose numbers are thrown away, then the measured one. */
export async function measure(url: string, source: RequestSource, settings: LoadSettings, title: string): Promise<LoadResult> {
  await run(url, source, { ...settings, duration: WARMUP_SECONDS }, `${title} (warm-up)`)
  return run(url, source, settings, title)
}
