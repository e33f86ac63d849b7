import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../../errors.js'
import { errorResponses } from '../../lib/schemas.js'

const CHECK_TIMEOUT_MS = 1000

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Load balancer check: 200 while the primary database answers',
        response: { 200: Type.Object({ status: Type.Literal('ok') }), ...errorResponses() }
      }
    },
    async () => {
      try {
        await withTimeout(app.db.primary.query('SELECT 1'), CHECK_TIMEOUT_MS)
      } catch (err) {
        app.log.warn({ err }, 'health check: primary database unreachable')
        throw new AppError('DATABASE_UNAVAILABLE', 'The primary database does not answer', undefined, { 'retry-after': '5' })
      }
      return { status: 'ok' as const }
    }
  )

  app.get(
    '/health/live',
    { schema: { tags: ['health'], summary: 'The process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const })
  )
}

export default health
