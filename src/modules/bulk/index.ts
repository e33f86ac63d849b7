import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { errorResponses } from '../../lib/schemas.js'
import { CONTENT_TYPES, exportProducts } from './export.js'
import { ExportQuerySchema } from './schemas.js'

const text = (description: string) => ({ schema: Type.String({ description }) })

const bulk: FastifyPluginAsyncTypebox = async (app) => {
  const defaultCurrency = app.appOptions.config.DEFAULT_CURRENCY

  app.get(
    '/exports/products',
    {
      config: { operation: ['export', 'products'] },
      onRequest: app.authorize('editor', 'admin'),
      schema: {
        tags: ['bulk'],
        operationId: 'exportProducts',
        summary: 'Export the catalog as NDJSON, CSV or Shopify’s product CSV, streamed (editor or admin)',
        description:
          'Products of every status (or of `status`) with the list filters, in id order, read from one snapshot ' +
          '(a replica when one may serve the read). What it writes, POST /imports reads back.',
        security: [{ bearerAuth: [] }],
        querystring: ExportQuerySchema,
        response: {
          200: {
            description: 'The products, streamed',
            content: {
              'application/x-ndjson': text('One product per line, as GET /products/:id gives it'),
              'text/csv': text('A header row, then one row per variant or image')
            }
          },
          ...errorResponses('FORBIDDEN')
        }
      }
    },
    async (request, reply) => {
      const body = exportProducts({ db: app.dbFor(request), defaultCurrency }, request.query)
      const extension = request.query.format === 'ndjson' ? 'ndjson' : 'csv'
      return reply
        .type(CONTENT_TYPES[request.query.format])
        .header('content-disposition', `attachment; filename="products.${extension}"`)
        .header('cache-control', 'no-store')
        .send(body as unknown as string) // a stream of the documented text; the type provider knows strings only
    }
  )
}

export default bulk
