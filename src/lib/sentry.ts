import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type * as SentryModule from '@sentry/node'
import type { Config } from '../config.js'
import { projectRoot } from './project-root.js'

// Loaded only when SENTRY_DSN is set: without it, no Sentry code runs at all.
let sentry: typeof SentryModule | undefined

export const release = () => {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { name: string; version: string }
  return `${pkg.name}@${pkg.version}`
}

const SECRET_HEADERS = ['authorization', 'cookie', 'x-api-key', 'idempotency-key']

/** Starts Sentry when SENTRY_DSN is set; call before the HTTP stack is imported so tracing can hook it. */
export async function initSentry(config: Config): Promise<boolean> {
  if (!config.SENTRY_DSN || sentry) return sentry !== undefined
  sentry = await import('@sentry/node')
  sentry.init({
    dsn: config.SENTRY_DSN,
    environment: config.NODE_ENV,
    release: release(),
    // The API's error handler reports 5xx itself, with request id and route; the automatic Fastify
    // error capture would report the same error a second time without them.
    integrations: (defaults) => defaults.filter((integration) => integration.name !== 'Fastify'),
    tracesSampleRate: config.SENTRY_TRACES_SAMPLE_RATE ?? (config.NODE_ENV === 'production' ? 0.1 : 1.0),
    dataCollection: {
      userInfo: false,
      cookies: false,
      httpBodies: [],
      httpHeaders: { request: { deny: SECRET_HEADERS }, response: true }
    },
    beforeSend(event) {
      // Bodies, cookies and credentials never leave the process.
      if (event.request) {
        delete event.request.data
        delete event.request.cookies
        for (const header of SECRET_HEADERS) delete event.request.headers?.[header]
      }
      return event
    }
  })
  return true
}

export interface ErrorContext {
  requestId?: string
  route?: string
  method?: string
}

export function reportError(err: unknown, context: ErrorContext = {}): void {
  if (!sentry) return
  const client = sentry
  client.withScope((scope) => {
    if (context.requestId) scope.setTag('request_id', context.requestId)
    if (context.route) scope.setTag('route', context.route)
    if (context.method) scope.setTag('method', context.method)
    client.captureException(err)
  })
}

export async function flushSentry(timeoutMs = 2000): Promise<void> {
  await sentry?.flush(timeoutMs)
}
