import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

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
            'Errors are RFC 9457 problem+json with a stable `code`.'
        },
        servers: [{ url: serverUrl(config.SWAGGER_HOST) }],
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key (npm run apikey -- create)' }
          }
        }
      }
    })
    await app.register(swaggerUi, { routePrefix: '/docs' })
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  },
  { name: 'swagger' }
)
