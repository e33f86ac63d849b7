import assert from 'node:assert/strict'

/**
 * Parses a RateLimit or RateLimit-Policy field as draft-ietf-httpapi-ratelimit-headers-10 defines them: a
 * Structured Fields List (RFC 9651) of items whose value is an sf-string (the policy name) with integer
 * parameters. Fails on anything else, including the pre-07 `ratelimit-limit` style.
 */
export function parseQuotaList(field: string | undefined): { name: string; params: Record<string, number> }[] {
  assert.ok(field, 'header missing')
  return field.split(/\s*,\s*/).map((item) => {
    const m = /^"([^"\\]*)"((?:;[a-z*][a-z0-9_.*-]*=\d{1,15})*)$/.exec(item)
    assert.ok(m, `not an sf-string item with integer parameters: ${item}`)
    const params: Record<string, number> = {}
    for (const p of (m[2] as string).split(';').slice(1)) {
      const [k, v] = p.split('=') as [string, string]
      assert.ok(!(k in params), `parameter ${k} repeated`)
      params[k] = Number(v)
    }
    return { name: m[1] as string, params }
  })
}

/** The checks of draft -10 for one response: policy has q (and w), state has r and t, same name. */
export function checkDraftHeaders(headers: Record<string, unknown>) {
  const [policy] = parseQuotaList(headers['ratelimit-policy'] as string)
  const [state] = parseQuotaList(headers.ratelimit as string)
  assert.ok(policy && state)
  assert.deepEqual(Object.keys(policy.params).sort(), ['q', 'w'])
  assert.deepEqual(Object.keys(state.params).sort(), ['r', 't'])
  assert.equal(state.name, policy.name)
  assert.ok((state.params.r as number) <= (policy.params.q as number))
  for (const old of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'x-ratelimit-limit'])
    assert.equal(headers[old], undefined)
  return {
    name: policy.name,
    q: policy.params.q as number,
    w: policy.params.w as number,
    r: state.params.r as number,
    t: state.params.t as number
  }
}
