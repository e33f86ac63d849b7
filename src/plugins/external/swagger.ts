import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { finishDocument } from '../../lib/openapi/document.js'

const serverUrl = (host: string | undefined) => {
  if (!host) return '/'
  return /^https?:\/\//.test(host) ? host : `https://${host}`
}

/** OpenAPI 3 from the route schemas at /openapi.json, Swagger UI at /docs. */
export default fp(
  async (app) => {
    const { config } = app.appOptions
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Catalog API',
          version: process.env.npm_package_version ?? '0.1.0',
          description:
            'Products, categories and stock. Reads are public; writes need `Authorization: Bearer <API key>`. ' +
            'Errors are RFC 9457 problem+json with a stable `code`.',
          license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' }
        },
        servers: [{ url: serverUrl(config.SWAGGER_HOST), description: `This deployment (${config.NODE_ENV})` }],
        tags: [
          { name: 'products', description: 'The catalog: products with price, stock and status' },
          { name: 'categories', description: 'The category tree' },
          { name: 'api-keys', description: 'API keys for writes and admin work (admin only)' },
          { name: 'audit', description: 'Who changed what, in a tamper-evident hash chain (admin only)' },
          { name: 'events', description: 'The change feed: every committed catalog change, in commit order' },
          { name: 'bulk', description: 'Bulk import (NDJSON, CSV, Shopify’s product CSV) and streamed export' },
          { name: 'webhooks', description: 'Signed deliveries of change events to your URLs (admin only)' },
          { name: 'health', description: 'Checks for load balancers and orchestrators' }
        ],
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key (npm run apikey -- create)' }
          }
        }
      },
      // Schemas added with an $id (Problem) are named by it in components/schemas.
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `schema-${i}`)
      },
      transformObject: (built) => finishDocument('openapiObject' in built ? built.openapiObject : built.swaggerObject)
    })
    await app.register(swaggerUi, { routePrefix: '/docs' })
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  },
  { name: 'swagger' }
)
