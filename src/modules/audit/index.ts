import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { paginate } from '../../lib/pagination.js'
import { withHeaders } from '../../lib/openapi/headers.js'
import { PageOf } from '../../lib/schemas.js'
import { AuditEntrySchema, ListAuditLogsQuerySchema } from './schemas.js'
import * as service from './service.js'

const auditLogs: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/audit-logs',
    {
      config: { operation: ['audit_log', 'list'] },
      onRequest: app.authorize('admin'),
      schema: {
        tags: ['audit'],
        operationId: 'listAuditLogs',
        summary: 'List audit entries, newest first (admin; keyset pagination)',
        security: [{ bearerAuth: [] }],
        querystring: ListAuditLogsQuerySchema,
        response: { 200: withHeaders(PageOf(AuditEntrySchema), 'Link') }
      }
    },
    async (request, reply) => {
      const page = await service.listAuditLogs({ db: app.dbFor(request), cursors: app.cursors }, request.query)
      return { success: true as const, data: page.items, pagination: paginate(request, reply, page.nextCursor) }
    }
  )
}

export default auditLogs
