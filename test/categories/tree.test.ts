import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Category, CategoryTree } from '../../src/modules/categories/schemas.js'
import { type TestApp, apiKey, bearer, build, seed, assertProblem } from '../helper.js'

const BASE = '/api/v1/categories'

async function make(app: TestApp, key: string, body: Record<string, unknown>): Promise<Category> {
  const res = await app.inject({ method: 'POST', url: BASE, headers: bearer(key), payload: body })
  assert.equal(res.statusCode, 201, res.body)
  return res.json().data as Category
}

async function tree(app: TestApp, id: number): Promise<CategoryTree> {
  const res = await app.inject({ method: 'GET', url: `${BASE}/${id}/tree` })
  assert.equal(res.statusCode, 200, res.body)
  const body = res.json()
  assert.equal(body.success, true)
  assert.deepEqual(Object.keys(body.data).sort(), ['ancestors', 'category', 'children'])
  return body.data as CategoryTree
}

const ids = (list: Category[]) => list.map((c) => c.id)

async function get(app: TestApp, id: number): Promise<Category> {
  const res = await app.inject({ method: 'GET', url: `${BASE}/${id}` })
  assert.equal(res.statusCode, 200, res.body)
  return res.json().data
}

test('when the tree of a category three levels deep is fetched, then ancestors run from the root down to the parent', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const root = await make(app, editor, { name: 'Root' })
  const a = await make(app, editor, { name: 'Level A', parentId: root.id })
  const b = await make(app, editor, { name: 'Level B', parentId: a.id })
  const leaf = await make(app, editor, { name: 'Leaf', parentId: b.id })
  await make(app, editor, { name: 'Unrelated root' })

  const data = await tree(app, leaf.id)
  assert.deepEqual(data.category, leaf)
  assert.deepEqual(ids(data.ancestors), [root.id, a.id, b.id])
  assert.deepEqual(data.children, [])
  // Ancestors are full categories, identical to what GET /categories/:id serves.
  assert.deepEqual(data.ancestors, [await get(app, root.id), await get(app, a.id), await get(app, b.id)])

  const middle = await tree(app, a.id)
  assert.deepEqual(ids(middle.ancestors), [root.id])
  assert.deepEqual(ids(middle.children), [b.id])
})

test('when the tree of a root is fetched, then ancestors are empty and children are the direct ones only, by name', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const root = await make(app, editor, { name: 'Store' })
  const gamma = await make(app, editor, { name: 'Gamma', parentId: root.id })
  const alpha = await make(app, editor, { name: 'Alpha', parentId: root.id })
  const beta2 = await make(app, editor, { name: 'Beta', slug: 'beta-two', parentId: root.id })
  const beta1 = await make(app, editor, { name: 'Beta', slug: 'beta-one', parentId: root.id })
  await make(app, editor, { name: 'Aardvark grandchild', parentId: gamma.id }) // below a child: not listed
  await make(app, editor, { name: 'Aaa elsewhere' }) // another root: not listed

  const data = await tree(app, root.id)
  assert.deepEqual(data.category, await get(app, root.id))
  assert.deepEqual(data.ancestors, [])
  // by name; equal names by id
  assert.deepEqual(ids(data.children), [alpha.id, beta2.id, beta1.id, gamma.id])
  for (const child of data.children) assert.equal(child.parentId, root.id)
})

test('when the tree of a seeded department is fetched, then its four subcategories are its children, by name', async (t) => {
  const app = await build(t)
  await seed(app, 0)
  const { rows } = await app.db.primary.query<{ id: number }>("SELECT id FROM categories WHERE slug = 'garden'")
  const garden = rows[0]!.id
  const data = await tree(app, garden)
  assert.equal(data.category.name, 'Garden')
  assert.deepEqual(data.ancestors, [])
  assert.deepEqual(
    data.children.map((c) => c.name),
    ['Outdoor Furniture', 'Plants', 'Tools', 'Watering']
  )
  const tools = data.children.find((c) => c.name === 'Tools')!
  const leaf = await tree(app, tools.id)
  assert.deepEqual(ids(leaf.ancestors), [garden])
  assert.deepEqual(leaf.children, [])
})

test('when a category is moved, then its tree shows the new ancestors and the old parent loses it as a child', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const a = await make(app, editor, { name: 'A' })
  const x = await make(app, editor, { name: 'X' })
  const y = await make(app, editor, { name: 'Y', parentId: x.id })
  const b = await make(app, editor, { name: 'B', parentId: a.id })
  const c = await make(app, editor, { name: 'C', parentId: b.id })

  const moved = await app.inject({
    method: 'PATCH',
    url: `${BASE}/${b.id}`,
    headers: bearer(editor),
    payload: { parentId: y.id }
  })
  assert.equal(moved.statusCode, 200, moved.body)

  assert.deepEqual(ids((await tree(app, c.id)).ancestors), [x.id, y.id, b.id], 'the subtree moves along')
  assert.deepEqual((await tree(app, a.id)).children, [])
  assert.deepEqual(ids((await tree(app, y.id)).children), [b.id])

  const toRoot = await app.inject({
    method: 'PATCH',
    url: `${BASE}/${b.id}`,
    headers: bearer(editor),
    payload: { parentId: null }
  })
  assert.equal(toRoot.statusCode, 200, toRoot.body)
  const asRoot = await tree(app, b.id)
  assert.deepEqual(asRoot.ancestors, [])
  assert.equal(asRoot.category.parentId, null)
  assert.deepEqual(ids(asRoot.children), [c.id])
  assert.deepEqual(ids((await tree(app, c.id)).ancestors), [b.id])
})

test('when a refused cyclic move was attempted, then the tree is unchanged', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const a = await make(app, editor, { name: 'A' })
  const b = await make(app, editor, { name: 'B', parentId: a.id })
  const c = await make(app, editor, { name: 'C', parentId: b.id })
  const before = await tree(app, c.id)
  const res = await app.inject({
    method: 'PATCH',
    url: `${BASE}/${a.id}`,
    headers: bearer(editor),
    payload: { parentId: c.id }
  })
  assertProblem(res, 409, 'CATEGORY_CYCLE')
  assert.deepEqual(await tree(app, c.id), before)
  assert.deepEqual((await tree(app, a.id)).ancestors, [])
})

test('when the tree of a category that does not exist is fetched, then 404 CATEGORY_NOT_FOUND; a malformed id gives 400', async (t) => {
  const app = await build(t)
  assertProblem(await app.inject({ method: 'GET', url: `${BASE}/999999/tree` }), 404, 'CATEGORY_NOT_FOUND')
  for (const id of ['abc', '0', '-3', '99999999999']) {
    const body = assertProblem(await app.inject({ method: 'GET', url: `${BASE}/${id}/tree` }), 400, 'VALIDATION_FAILED')
    assert.ok(
      body.errors?.some((e) => e.field === 'id'),
      `id ${id}`
    )
  }
})

test('when a deleted category is asked for its tree, then 404', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const parent = await make(app, admin, { name: 'Parent' })
  const child = await make(app, admin, { name: 'Child', parentId: parent.id })
  assert.equal(
    (await app.inject({ method: 'DELETE', url: `${BASE}/${child.id}`, headers: bearer(admin) })).statusCode,
    204
  )
  assertProblem(await app.inject({ method: 'GET', url: `${BASE}/${child.id}/tree` }), 404, 'CATEGORY_NOT_FOUND')
  assert.deepEqual((await tree(app, parent.id)).children, [])
})
