import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../../lib/schemas.js'
import { EventFeedSchema, ListEventsQuerySchema } from './schemas.js'
import * as service from './service.js'

const events: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/events',
    {
      config: { operation: ['event', 'list'] },
      onRequest: app.authorize('admin', 'events'),
      schema: {
        tags: ['events'],
        operationId: 'listEvents',
        summary: 'The change feed: committed catalog changes in commit order, with long polling (admin, events)',
        security: [{ bearerAuth: [] }],
        querystring: ListEventsQuerySchema,
        response: { 200: EventFeedSchema, ...errorResponses('CURSOR_EXPIRED') }
      }
    },
    async (request, reply) => {
      // A client that goes away ends its long poll.
      const gone = new AbortController()
      reply.raw.once('close', () => gone.abort())
      const page = await service.followEvents(
        { db: app.db.primary, changed: app.events.changed },
        request.query,
        gone.signal
      )
      return { success: true as const, data: page.items, nextCursor: page.nextCursor }
    }
  )
}

export default events
