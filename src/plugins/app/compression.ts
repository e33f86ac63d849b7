import { pipeline } from 'node:stream'
import fp from 'fastify-plugin'
import {
  belowCompressionThreshold,
  compressBody,
  compressStream,
  isCompressible,
  negotiateEncoding,
  varyOnEncoding
} from '../../lib/compression.js'

const isStream = (payload: unknown): payload is NodeJS.ReadableStream =>
  typeof payload === 'object' && payload !== null && typeof (payload as { pipe?: unknown }).pipe === 'function'

/**
 * Response compression: br or gzip as the client accepts (see negotiateEncoding), for compressible types
 * (JSON, text, JavaScript, SVG) of 1 KB and more, and for streamed files (the documentation's assets).
 * Bodies that already carry a Content-Encoding pass untouched: the response cache compresses its entries
 * itself and keeps the result with them (see sendStored).
 */
export default fp(
  async (app) => {
    app.addHook('onSend', (request, reply, payload, done) => {
      if (
        payload === null ||
        payload === undefined ||
        reply.statusCode < 200 ||
        reply.statusCode === 204 ||
        reply.statusCode === 206
      ) {
        return done(null, payload)
      }
      if (reply.hasHeader('content-encoding') || !isCompressible(reply.getHeader('content-type')))
        return done(null, payload)
      if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
        if (belowCompressionThreshold(payload)) return done(null, payload)
        varyOnEncoding(reply)
        const encoding = negotiateEncoding(request.headers['accept-encoding'])
        if (!encoding) return done(null, payload)
        const compressed = compressBody(payload, encoding)
        reply.header('content-encoding', encoding)
        reply.header('content-length', compressed.length)
        return done(null, compressed)
      }
      if (isStream(payload)) {
        varyOnEncoding(reply)
        const encoding = negotiateEncoding(request.headers['accept-encoding'])
        if (!encoding) return done(null, payload)
        reply.header('content-encoding', encoding)
        reply.removeHeader('content-length')
        // An error on either side ends the response; Fastify logs the stream error.
        return done(
          null,
          pipeline(payload, compressStream(encoding), () => {})
        )
      }
      done(null, payload)
    })
  },
  { name: 'compression' }
)
