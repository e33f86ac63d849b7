import http from 'node:http'
import https from 'node:https'
import { checkedLookup, parseWebhookUrl, RefusedUrl, type UrlPolicy } from './ssrf.js'

export type AttemptOutcome = 'delivered' | 'http_error' | 'timeout' | 'network_error' | 'refused'

export interface AttemptResult {
  outcome: AttemptOutcome
  durationMs: number
  responseCode: number | null
  /** The first 1 KB of the response body. */
  responseBody: string | null
  error: string | null
}

export const RESPONSE_KEPT_BYTES = 1024

export interface SendOptions {
  policy: UrlPolicy
  timeoutMs: number
  agents?: { http: http.Agent; https: https.Agent }
}

/** Keep-alive agents for one instance's deliveries (a receiver gets one connection per delivery in flight). */
export const createAgents = () => ({
  http: new http.Agent({ keepAlive: true, maxSockets: 256 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 256 })
})

/**
 * One POST of `body` to `url`: 2xx is delivered; anything else (a redirect too: it is never followed) is a failure.
 * The URL is checked again here, and the address is checked when the connection is made (ssrf.ts). Bounded by
 * `timeoutMs` from start to the end of the response.
 */
export function send(
  rawUrl: string,
  headers: Record<string, string>,
  body: string,
  opts: SendOptions
): Promise<AttemptResult> {
  const started = performance.now()
  const result = (
    outcome: AttemptOutcome,
    rest: Partial<Omit<AttemptResult, 'outcome' | 'durationMs'>> = {}
  ): AttemptResult => ({
    outcome,
    durationMs: Math.round(performance.now() - started),
    responseCode: rest.responseCode ?? null,
    responseBody: rest.responseBody ?? null,
    error: rest.error ?? null
  })
  let url: URL
  try {
    url = parseWebhookUrl(rawUrl, opts.policy)
  } catch (err) {
    return Promise.resolve(result('refused', { error: (err as Error).message }))
  }
  const secure = url.protocol === 'https:'
  return new Promise((resolve) => {
    let settled = false
    const finish = (r: AttemptResult) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(r)
    }
    const request = (secure ? https : http).request(url, {
      method: 'POST',
      agent: secure ? opts.agents?.https : opts.agents?.http,
      lookup: checkedLookup(opts.policy),
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': 'catalog-api-webhooks'
      }
    })
    const timer = setTimeout(() => {
      finish(result('timeout', { error: `no complete answer within ${opts.timeoutMs} ms` }))
      request.destroy()
    }, opts.timeoutMs)
    request.on('error', (err) => {
      const refused = err instanceof RefusedUrl
      finish(result(refused ? 'refused' : 'network_error', { error: err.message.slice(0, 500) }))
    })
    request.on('response', (response) => {
      const code = response.statusCode ?? 0
      const chunks: Buffer[] = []
      let kept = 0
      response.on('data', (chunk: Buffer) => {
        if (kept < RESPONSE_KEPT_BYTES) {
          chunks.push(chunk.subarray(0, RESPONSE_KEPT_BYTES - kept))
          kept += Math.min(chunk.length, RESPONSE_KEPT_BYTES - kept)
        }
      })
      response.on('error', (err) => finish(result('network_error', { responseCode: code, error: err.message })))
      response.on('end', () => {
        const responseBody = Buffer.concat(chunks).toString('utf8').replaceAll('\u0000', '')
        finish(result(code >= 200 && code < 300 ? 'delivered' : 'http_error', { responseCode: code, responseBody }))
      })
    })
    request.end(body)
  })
}
