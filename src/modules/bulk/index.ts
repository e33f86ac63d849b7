import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { AppError } from '../../errors.js'
import { releaseRequestDeadline } from '../../lib/request-deadline.js'
import { withHeaders } from '../../lib/openapi/headers.js'
import { errorResponses, Ok } from '../../lib/schemas.js'
import { productTag } from '../products/index.js'
import { CONTENT_TYPES, exportProducts } from './export.js'
import * as service from './import-service.js'
import { rowToImport } from './repository.js'
import {
  CsvFileSchema,
  ExportQuerySchema,
  type ImportFormat,
  ImportParams,
  ImportQuerySchema,
  ImportSchema,
  NdjsonFileSchema
} from './schemas.js'
import { idleBounded } from './upload.js'

const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl']
const CSV_TYPES = ['text/csv']

// The import's body is documented here and read as a stream by the handler (no schema validates it).
const IMPORT_BODY = {
  description: 'The file: NDJSON (one product per line, as the API writes it) or CSV (ours or Shopify’s)',
  required: true,
  content: {
    'application/x-ndjson': { schema: NdjsonFileSchema },
    'text/csv': { schema: CsvFileSchema }
  }
}

/** The body's syntax from its content type; anything else is 415 (a JSON body reaches here already parsed). */
function syntaxOf(request: FastifyRequest): 'ndjson' | 'csv' {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  if (request.body instanceof Readable) {
    if (NDJSON_TYPES.includes(type)) return 'ndjson'
    if (CSV_TYPES.includes(type)) return 'csv'
  }
  throw new AppError(
    'UNSUPPORTED_MEDIA_TYPE',
    `An import is application/x-ndjson or text/csv, not ${type || 'a body without a content type'}`
  )
}

const bulk: FastifyPluginAsyncTypebox = async (app) => {
  const { config } = app.appOptions
  const defaultCurrency = config.DEFAULT_CURRENCY
  const canWrite = app.authorize('editor', 'admin')
  const deps = {
    db: app.db,
    defaultCurrency,
    onCommitted: async (ids: number[]) => {
      await app.cache?.invalidate(['products', ...ids.map(productTag)])
    }
  }

  // Import bodies are handed to the handler as the request stream: IMPORT_MAX_BYTES, not BODY_LIMIT_BYTES, bounds
  // them, counted as they stream.
  app.addContentTypeParser([...NDJSON_TYPES, ...CSV_TYPES], (_request, payload, done) => done(null, payload))

  app.post(
    '/imports',
    {
      config: {
        operation: ['import', 'create'],
        swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: IMPORT_BODY }, url })
      },
      onRequest: canWrite,
      // An answer before the body's end (413, 408, a MISSING_COLUMN) closes the connection: the rest is not waited for.
      onSend: (request, reply, payload, done) => {
        if (!request.raw.readableEnded) reply.header('connection', 'close')
        done(null, payload)
      },
      schema: {
        tags: ['bulk'],
        operationId: 'createImport',
        summary:
          'Import products from NDJSON, CSV or Shopify’s product CSV, upserting by slug and SKU (editor or admin)',
        description:
          'The body is read as it streams, in batches of one transaction each (with their audit entries). The answer ' +
          'comes when the body has been read: 202 with the import’s counts and row errors; GET its Location meanwhile.',
        security: [{ bearerAuth: [] }],
        querystring: ImportQuerySchema,
        response: {
          202: withHeaders(Ok(ImportSchema), 'Location'),
          ...errorResponses('MISSING_COLUMN', 'PAYLOAD_TOO_LARGE', 'REQUEST_TIMEOUT', 'UNSUPPORTED_MEDIA_TYPE')
        }
      }
    },
    async (request, reply) => {
      const syntax = syntaxOf(request)
      const max = config.IMPORT_MAX_BYTES
      if (Number(request.headers['content-length']) > max) {
        throw new AppError('PAYLOAD_TOO_LARGE', `The body is larger than IMPORT_MAX_BYTES (${max} bytes)`)
      }
      // From here the upload is bound by IMPORT_IDLE_TIMEOUT_MS instead of REQUEST_TIMEOUT_MS: it may take as long as
      // bytes keep coming.
      releaseRequestDeadline(request.raw)
      const format: ImportFormat = request.query.format ?? (syntax === 'ndjson' ? 'ndjson' : 'csv')
      const started = await service.startImport(deps, {
        format,
        dryRun: request.query.dryRun,
        apiKeyId: request.principal?.id ?? null
      })
      const done = await service.runImport(
        deps,
        started.id,
        { body: idleBounded(request.body as Readable, config.IMPORT_IDLE_TIMEOUT_MS), syntax, maxBytes: max },
        { dryRun: request.query.dryRun, format: request.query.format, currency: request.query.currency },
        app.audit.context(request)
      )
      return reply
        .code(202)
        .header('location', `/api/v1/imports/${started.id}`)
        .send({ success: true as const, data: rowToImport(done) })
    }
  )

  app.get(
    '/imports/:id',
    {
      config: { operation: ['import', 'read'] },
      onRequest: canWrite,
      schema: {
        tags: ['bulk'],
        operationId: 'getImport',
        summary: 'An import’s status, counts, rate and row errors (editor or admin)',
        security: [{ bearerAuth: [] }],
        params: ImportParams,
        response: { 200: Ok(ImportSchema), ...errorResponses('IMPORT_NOT_FOUND') }
      }
    },
    async (request) => ({ success: true as const, data: await service.getImport(deps, request.params.id) })
  )

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
              'application/x-ndjson': { schema: NdjsonFileSchema },
              'text/csv': { schema: CsvFileSchema }
            }
          },
          ...errorResponses('FORBIDDEN')
        }
      }
    },
    async (request, reply) => {
      cutWhenIdle(request.raw.socket, reply.raw, config.EXPORT_IDLE_TIMEOUT_MS)
      const body = exportProducts({ db: app.dbFor(request), defaultCurrency }, request.query)
      const extension = request.query.format === 'ndjson' ? 'ndjson' : 'csv'
      return reply
        .type(CONTENT_TYPES[request.query.format])
        .header('content-disposition', `attachment; filename="products.${extension}"`)
        .send(body as unknown as string) // a stream of the documented text; the type provider knows strings only
    }
  )
}

/**
 * Closes the connection of an answer the client stops taking: when nothing moves on the socket for `idleMs` (its own
 * inactivity timer, which reads and writes reset) while bytes of the answer wait in its buffer, the socket is
 * destroyed, so the export's stream and its database connection and snapshot are released rather than held for as
 * long as the client stays connected. With nothing waiting, the silence is the server's (a COPY still finding its
 * first rows, a lock it waits for): the client is not at fault and the export goes on; the timer fires again after the
 * next write.
 */
function cutWhenIdle(socket: Socket, response: ServerResponse, idleMs: number) {
  // A request without a network socket of its own (one injected in-process) has nothing to cut.
  if (idleMs === 0 || typeof socket?.setTimeout !== 'function') return
  // A listener on the answer's 'timeout' makes the socket's timeout ours to handle: node:http destroys a timed-out
  // socket only when nobody listens.
  response.setTimeout(idleMs, () => {
    if (socket.writableLength > 0) socket.destroy()
  })
}

export default bulk
