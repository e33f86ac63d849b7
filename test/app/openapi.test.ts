import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { build } from '../helper.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const METHODS = ['get', 'post', 'patch', 'put', 'delete']

async function documentOf(t: Parameters<typeof build>[0]): Promise<Json> {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/openapi.json' })
  assert.equal(res.statusCode, 200)
  return res.json()
}

function operations(doc: Json): { path: string; method: string; op: Json }[] {
  return Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    METHODS.filter((m) => (item as Json)[m]).map((method) => ({ path, method, op: (item as Json)[method] }))
  )
}

const codesOf = (op: Json, status: number): string[] =>
  op.responses[status]?.content['application/problem+json'].schema.allOf[1].properties.code.enum ?? []

test('when the document is read, then nothing with a default is required and every operation has an id and described responses', async (t) => {
  const doc = await documentOf(t)
  const ops = operations(doc)
  assert.ok(ops.length >= 18, `${ops.length} operations`)
  const ids = ops.map(({ op }) => op.operationId)
  assert.ok(
    ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id)),
    `operationIds: ${ids.join(', ')}`
  )
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique')
  for (const { path, method, op } of ops) {
    for (const p of op.parameters ?? []) {
      if (p.schema?.default !== undefined) assert.equal(p.required, false, `${method} ${path}: ${p.name} has a default`)
    }
    for (const [status, response] of Object.entries(op.responses as Json)) {
      assert.ok(response.description && response.description !== 'Default Response', `${op.operationId} ${status}`)
    }
  }
  const list = doc.paths['/api/v1/products'].get
  for (const name of ['limit', 'sort', 'includeDescendants']) {
    assert.equal(list.parameters.find((p: Json) => p.name === name).required, false, `${name} is optional`)
  }
})

test('when the document is read, then every schema has a name and the entities are named components', async (t) => {
  const doc = await documentOf(t)
  const names = Object.keys(doc.components.schemas)
  for (const name of ['Product', 'Category', 'CategoryTree', 'ApiKey', 'AuditEntry', 'Problem', 'Pagination']) {
    assert.ok(names.includes(name), `${name} is a component (${names.join(', ')})`)
  }
  assert.ok(!names.some((n) => /^(def|schema)-\d+$/.test(n)), `no generated names: ${names.join(', ')}`)
  for (const { op } of operations(doc)) {
    for (const response of Object.values(op.responses as Json)) {
      for (const media of Object.values((response.content ?? {}) as Json)) {
        const schema = media.schema
        assert.ok(schema.$ref || schema.allOf?.[0]?.$ref, `${op.operationId}: the body schema is named`)
      }
    }
    const body = op.requestBody?.content['application/json']?.schema
    if (body) assert.ok(body.$ref, `${op.operationId}: the request body is named`)
  }
})

test('when the document is read, then 429, 503, 504 and every header the API sends or reads are documented', async (t) => {
  const doc = await documentOf(t)
  for (const { path, op } of operations(doc)) {
    if (!path.startsWith('/api/')) continue
    assert.deepEqual(codesOf(op, 429), ['QUOTA_EXCEEDED'], `${op.operationId} 429`)
    assert.ok(codesOf(op, 503).includes('DATABASE_UNAVAILABLE'), `${op.operationId} 503`)
    assert.deepEqual(codesOf(op, 504), ['DATABASE_TIMEOUT'], `${op.operationId} 504`)
    assert.ok(op.responses[429].headers['Retry-After'].required, `${op.operationId} 429 Retry-After`)
    for (const response of Object.values(op.responses as Json)) {
      for (const header of ['X-Request-Id', 'RateLimit', 'RateLimit-Policy', 'Cache-Control']) {
        assert.ok(response.headers?.[header], `${op.operationId}: ${header}`)
      }
    }
    assert.ok(
      op.parameters.some((p: Json) => p.in === 'header' && p.name === 'X-Consistency-Token'),
      `${op.operationId} reads X-Consistency-Token`
    )
  }
  const op = (path: string, method: string) => doc.paths[path][method]
  const headersOf = (path: string, method: string, status: number) =>
    Object.keys(op(path, method).responses[status].headers)
  const params = (path: string, method: string) => op(path, method).parameters.map((p: Json) => p.name)
  assert.ok(headersOf('/api/v1/products/{id}', 'get', 200).includes('ETag'))
  assert.ok(headersOf('/api/v1/products/{id}', 'get', 304).includes('ETag'))
  assert.ok(params('/api/v1/products/{id}', 'get').includes('if-none-match'))
  assert.ok(headersOf('/api/v1/products', 'get', 200).includes('Link'))
  for (const header of ['Location', 'ETag', 'X-Consistency-Token', 'Idempotent-Replayed']) {
    assert.ok(headersOf('/api/v1/products', 'post', 201).includes(header), `createProduct 201 ${header}`)
  }
  assert.ok(params('/api/v1/products', 'post').includes('idempotency-key'))
  assert.ok(params('/api/v1/products/{id}', 'patch').includes('if-match'))
  assert.ok(headersOf('/api/v1/categories/{id}', 'delete', 204).includes('X-Consistency-Token'))
  assert.ok(headersOf('/api/v1/audit-logs', 'get', 401).includes('WWW-Authenticate'))
})

test("when the document is read, then only a public read's 200 and 304 may be public and every other answer is documented private, no-store", async (t) => {
  const doc = await documentOf(t)
  const shareable: string[] = []
  for (const { op } of operations(doc)) {
    for (const [status, response] of Object.entries(op.responses as Json)) {
      const header = response.headers['Cache-Control']
      assert.equal(header.required, true, `${op.operationId} ${status}`)
      if (header.schema.enum) {
        assert.deepEqual(header.schema.enum, ['private, no-store'], `${op.operationId} ${status}`)
        assert.equal(header.schema.example, 'private, no-store', `${op.operationId} ${status}: its example`)
      } else {
        shareable.push(`${op.operationId} ${status}`)
        assert.match(header.schema.example, /^public, max-age=0, s-maxage=\d+, stale-while-revalidate=\d+$/)
        const pattern = new RegExp(header.schema.pattern)
        assert.ok(pattern.test(header.schema.example) && pattern.test('private, no-store'), 'keyed reads are private')
        assert.ok(!pattern.test('public, max-age=60'), `${op.operationId} ${status}: only the CDN form`)
      }
    }
  }
  const reads = ['listProducts', 'getProduct', 'getProductBySlug', 'listCategories', 'getCategory', 'getCategoryBySlug']
  assert.deepEqual(
    shareable.sort(),
    [
      ...reads.map((id) => `${id} 200`),
      ...['getProduct', 'getProductBySlug', 'getCategory', 'getCategoryBySlug'].map((id) => `${id} 304`),
      'getCategoryTree 200'
    ].sort()
  )
})

test('when the document is read, then each problem code enum is what that operation can answer', async (t) => {
  const doc = await documentOf(t)
  const get = doc.paths['/api/v1/products/{id}'].get
  assert.deepEqual(codesOf(get, 404), ['PRODUCT_NOT_FOUND'])
  assert.deepEqual(codesOf(get, 400), ['VALIDATION_FAILED', 'BAD_REQUEST'])
  assert.equal(get.responses[401], undefined, 'a public read answers no 401')
  const patch = doc.paths['/api/v1/categories/{id}'].patch
  assert.deepEqual(codesOf(patch, 409), ['SLUG_TAKEN', 'CATEGORY_CYCLE', 'IDEMPOTENCY_KEY_IN_USE'])
  assert.deepEqual(codesOf(patch, 422), ['UNKNOWN_CATEGORY', 'IDEMPOTENCY_KEY_REUSED'])
  const list = doc.paths['/api/v1/products'].get
  assert.ok(codesOf(list, 400).includes('INVALID_CURSOR'))
  assert.equal(list.responses[404], undefined, 'a list answers no 404')
  assert.deepEqual(list.security, [{}, { bearerAuth: [] }], 'a public operation with an optional key says so')
  assert.deepEqual(doc.paths['/api/v1/categories'].get.security, [], 'a public operation says so')
  assert.deepEqual(doc.paths['/api/v1/api-keys'].get.security, [{ bearerAuth: [] }])
  const problem = doc.components.schemas.Problem.properties.code.enum
  for (const { op } of operations(doc)) {
    for (const status of Object.keys(op.responses).filter((s) => Number(s) >= 400)) {
      for (const code of codesOf(op, Number(status))) assert.ok(problem.includes(code), code)
    }
  }
})

test('when the document is read, then currency is the ISO 4217 set the API accepts and every example validates', async (t) => {
  const doc = await documentOf(t)
  const accepted = Intl.supportedValuesOf('currency')
  assert.deepEqual(doc.components.schemas.CreateProduct.properties.currency.enum, accepted)
  assert.ok(accepted.includes('USD') && accepted.includes('EUR') && !accepted.includes('XYZ'))
  const ajv = new Ajv({ strict: false, allErrors: true })
  addFormats.default(ajv)
  ajv.addSchema({ ...doc, $id: 'doc' })
  let checked = 0
  for (const [name, schema] of Object.entries(doc.components.schemas as Json)) {
    if (schema.example === undefined) continue
    const validate = ajv.compile({ $ref: `doc#/components/schemas/${name}` })
    assert.ok(validate(schema.example), `${name} example: ${JSON.stringify(validate.errors)}`)
    checked++
  }
  assert.ok(checked >= 6, `${checked} examples checked`)
  // Parameter and header examples too (a client generator or Swagger UI shows them as the value to send).
  const inline: string[] = []
  const walk = (node: unknown, at: string): void => {
    if (!node || typeof node !== 'object') return
    const schema = (node as Json).schema
    if (schema?.example !== undefined) {
      const { example, ...rest } = schema
      const validate = ajv.compile(JSON.parse(JSON.stringify(rest).replaceAll('"#/components', '"doc#/components')))
      if (!validate(example)) inline.push(`${at}: ${JSON.stringify(example)} ${JSON.stringify(validate.errors)}`)
      checked++
    }
    for (const [key, value] of Object.entries(node)) walk(value, `${at}/${key}`)
  }
  walk(doc.paths, '#/paths')
  assert.deepEqual(inline, [], 'parameter and header examples that fail their schema')
  assert.ok(checked > 500, `${checked} examples checked`)
  assert.doesNotMatch(JSON.stringify(doc.components.schemas.Product.example), /2147483647/)
})
