import compress from '@fastify/compress'
import fp from 'fastify-plugin'

/** br or gzip when the client asks, for bodies of 1 KB and more; smaller ones are not worth the CPU. */
export default fp(
  async (app) => {
    await app.register(compress, { global: true, threshold: 1024, encodings: ['br', 'gzip'] })
  },
  { name: 'compress' }
)
