import { randomBytes } from 'node:crypto'
import { test, type TestContext } from 'node:test'
import { removeRedisKeys } from '../scripts/redis-cleanup.js'
import { defer } from './helper.js'

export const redisUrl = process.env.TEST_REDIS_URL
const required = process.env.REQUIRE_SERVICES === '1'

/**
 * A test that needs the real Redis (TEST_REDIS_URL, set by `npm test` when one answers): skipped by name
 * with the reason when it is missing, failed instead under REQUIRE_SERVICES=1.
 */
export function redisTest(
  name: string,
  fn: (t: TestContext, url: string) => Promise<void>,
  options: { timeout?: number } = {}
): void {
  if (redisUrl) test(name, { timeout: options.timeout ?? 60_000 }, (t) => fn(t, redisUrl))
  else if (required)
    test(name, () => Promise.reject(new Error('REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set (no Redis answered)')))
  else test(name, { skip: 'no Redis answered on TEST_REDIS_URL' }, () => {})
}

export type Backend = 'memory' | 'redis'

/**
 * One test of a suite run against both backends: the in-process one (no REDIS_URL) and the real Redis, with
 * `env` either way and a key prefix of its own on Redis.
 */
export function backendTest(
  backend: Backend,
  name: string,
  fn: (t: TestContext, env: Record<string, string>) => Promise<void>,
  env: Record<string, string> = {}
): void {
  const title = `[${backend}] ${name}`
  if (backend === 'memory') test(title, (t) => fn(t, env))
  else redisTest(title, (t, url) => fn(t, { ...env, REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url) }))
}

/** A key prefix of its own for one test, so tests run in parallel and beside anything else; its keys are deleted afterwards. */
export function redisPrefix(t: Parameters<typeof defer>[0], url = redisUrl): string {
  const prefix = `test:${process.pid}:${randomBytes(4).toString('hex')}:`
  defer(t, async () => {
    if (url) await removeRedisKeys(url, prefix)
  })
  return prefix
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it is true, at most `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await sleep(25)
  }
}
