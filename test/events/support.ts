import type { FastifyInstance } from 'fastify'
import { createApiKey } from '../../src/modules/api-keys/service.js'
import type { ChangeEventOut } from '../../src/modules/events/schemas.js'
import { bearer } from '../helper.js'

export const eventsKey = async (app: FastifyInstance) =>
  (await createApiKey(app.db.primary, { name: 'feed reader', role: 'events' })).key

export interface FeedPage {
  data: ChangeEventOut[]
  nextCursor: number
}

/** One GET /api/v1/events; throws on anything but 200. */
export async function feed(app: FastifyInstance, key: string, query: string): Promise<FeedPage> {
  const res = await app.inject({ method: 'GET', url: `/api/v1/events?${query}`, headers: bearer(key) })
  if (res.statusCode !== 200) throw new Error(`GET /events?${query}: ${res.statusCode} ${res.body}`)
  return res.json<FeedPage & { success: true }>()
}
