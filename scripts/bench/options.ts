import { parseArgs } from 'node:util'

/** Every scenario, in the order they run (the writes last: they add rows the reads would see). */
export const SCENARIO_NAMES = [
  'first-page',
  'product-by-id',
  'filtered-sorted',
  'deep-page',
  'price-page',
  'cached-first-page',
  'cached-product-by-id',
  'create-product',
  'patch-product',
  // Change events (scripts/bench/events.ts): each starts its own servers, after the others have stopped.
  'webhook-deliveries',
  'write-with-events',
  'feed-latency'
] as const
export type ScenarioName = (typeof SCENARIO_NAMES)[number]

export interface BenchOptions {
  products: number
  duration: number
  connections: number
  rounds: number
  scenarios: ScenarioName[]
  out: string | undefined
  seedDesign: string | undefined
}

export const USAGE = `usage: npm run bench -- [options]
  --products N       demo products to load first (default 10000; only the missing ones are inserted)
  --duration S       measured seconds per scenario, for the API and again for each ceiling (default 10)
  --rounds R         the measured seconds are split into R rounds of API, ceiling, exact-ceiling slices
                     (default 5), so all see the same moments of a shared, noisy machine; each side is
                     warmed up 2 s first
  --connections C    concurrent connections (default 32)
  --scenarios LIST   comma-separated subset of: ${SCENARIO_NAMES.join(', ')}
  --out FILE         where to write the JSON results (default bench-results/bench-<timestamp>.json)
  --seed-design DIR  the seed's own design (server.js, package.json, package-lock.json, schema.sql): served
                     on a fresh database of its own, its first page, product by id and create
                     measured in the same rounds as first-page, product-by-id, create-product and
                     patch-product
Set DB_HOST (and DB_PORT, DB_USER, DB_PASSWORD, DB_NAME) to use an existing PostgreSQL instead of the
embedded one kept in .data/bench. The cached-* scenarios use REDIS_URL, or the Redis on 127.0.0.1:6379.`

export class UsageError extends Error {
  override name = 'UsageError'
}

function integer(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback
  const value = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`)
  }
  return value
}

function scenarioList(raw: string | undefined): ScenarioName[] {
  if (raw === undefined) return [...SCENARIO_NAMES]
  const asked = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const unknown = asked.filter((s) => !(SCENARIO_NAMES as readonly string[]).includes(s))
  if (unknown.length)
    throw new UsageError(`unknown scenario(s) ${unknown.join(', ')}; choose from ${SCENARIO_NAMES.join(', ')}`)
  if (!asked.length) throw new UsageError('--scenarios names no scenario')
  return SCENARIO_NAMES.filter((s) => asked.includes(s))
}

/** Parses the command line; `undefined` means --help was asked for. */
export function parseOptions(args: string[]): BenchOptions | undefined {
  let values
  try {
    values = parseArgs({
      args,
      options: {
        products: { type: 'string' },
        duration: { type: 'string' },
        connections: { type: 'string' },
        rounds: { type: 'string' },
        scenarios: { type: 'string' },
        out: { type: 'string' },
        'seed-design': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    }).values
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help) return undefined
  return {
    products: integer('products', values.products, 10_000, 1, 10_000_000),
    duration: integer('duration', values.duration, 10, 1, 3600),
    connections: integer('connections', values.connections, 32, 1, 10_000),
    rounds: integer('rounds', values.rounds, 5, 1, 100),
    scenarios: scenarioList(values.scenarios),
    out: values.out,
    seedDesign: values['seed-design']
  }
}
