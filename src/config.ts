import { Ajv } from 'ajv'
import { type Static, Type } from 'typebox'
import { productionProblems } from './config-checks.js'
import { parseRules } from './lib/rate-limit-rules.js'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const port = (description: string, fallback?: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, description, ...(fallback === undefined ? {} : { default: fallback }) })
const ms = (description: string, fallback: number) => Type.Integer({ minimum: 0, default: fallback, description })
const bool = (description: string, fallback: boolean) => Type.Boolean({ default: fallback, description })
const optionalText = (description: string) => Type.Optional(Type.String({ minLength: 1, description }))

/** Every environment variable the service reads, with its default and meaning. */
export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development',
    description: 'development, production or test'
  }),
  PORT: port('HTTP port the API listens on', 5000),
  HOST: Type.String({ default: '0.0.0.0', description: 'Interface the API binds to' }),
  LOG_LEVEL: Type.Enum([...LOG_LEVELS], {
    default: 'info',
    description: `one of ${LOG_LEVELS.join(', ')} (upper case accepted, e.g. WARN)`
  }),
  LOG_PRETTY: bool('Human-readable logs (development only; needs pino-pretty installed)', false),

  DB_HOST: optionalText('PostgreSQL host; unset → an embedded PostgreSQL 15 kept in DATA_DIR'),
  DB_PORT: port('PostgreSQL port', 5432),
  DB_USER: Type.String({ default: 'postgres', description: 'PostgreSQL user' }),
  DB_PASSWORD: Type.String({ default: '', description: 'PostgreSQL password' }),
  DB_NAME: Type.String({ default: 'ecommerce', minLength: 1, description: 'PostgreSQL database name' }),
  DB_SSL: bool('Connect to PostgreSQL over TLS (RDS)', false),
  DB_SSL_CA_FILE: optionalText('PEM bundle to verify the database certificate (e.g. the RDS CA bundle)'),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 1000, default: 20, description: 'Primary pool size' }),
  DB_POOL_MIN: Type.Integer({ minimum: 0, maximum: 1000, default: 0, description: 'Idle connections kept open' }),
  WRITE_BATCH_MAX: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 64,
    description:
      'Most concurrent writes of one kind written in one transaction (those arriving in one turn of the event loop while one of that kind runs, or waiting while WRITE_BATCHES_IN_FLIGHT run): creates (POST /api/v1/products without media) and variant PATCHes (without optionValues); 1 = each alone'
  }),
  WRITE_BATCHES_IN_FLIGHT: Type.Integer({
    minimum: 1,
    maximum: 100,
    default: 2,
    description:
      'Transactions of one kind of coalesced write (see WRITE_BATCH_MAX) running at once per instance; writes beyond wait and go together in the next'
  }),
  WRITE_BATCH_GATHER_MS: Type.Integer({
    minimum: 0,
    maximum: 100,
    default: 2,
    description:
      'While a coalesced write of one kind runs, a free slot of WRITE_BATCHES_IN_FLIGHT waits at most this many ms for its share of the writers (those in running transactions and those just answered, divided by WRITE_BATCHES_IN_FLIGHT) before it starts the next transaction; 0 = it starts at the end of the event loop turn'
  }),
  DB_READ_REPLICA_HOST: optionalText('Read replica host(s), comma-separated; unset → reads use the primary'),
  DB_READ_REPLICA_PORT: port('Read replica port', 5432),
  DB_READ_POOL_MAX: Type.Integer({ minimum: 1, maximum: 1000, default: 30, description: 'Pool size per replica' }),
  DB_REPLICA_MAX_LAG_MS: ms('Replicas further behind than this take no reads', 5000),
  DB_REPLICA_TIMEOUT_MS: ms(
    'Connect, query and statement timeout on replica pools; a slower replica hands its reads to the primary',
    1000
  ),
  DB_STATEMENT_TIMEOUT: ms('Server-side statement_timeout in ms (0 = none)', 30000),
  DB_QUERY_TIMEOUT: ms('Client-side query timeout in ms (0 = none)', 30000),
  DB_CONNECTION_TIMEOUT: ms(
    "Max wait for a pool connection, and for a coalesced write's turn (WRITE_BATCH_MAX), in ms",
    5000
  ),
  DB_IDLE_TIMEOUT: ms('Idle connections are closed after this many ms', 30000),
  DB_MAX_LIFETIME_SECONDS: Type.Integer({
    minimum: 0,
    default: 1800,
    description: 'Connections are recycled after this many seconds (0 = never)'
  }),
  DB_STARTUP_TIMEOUT_MS: ms(
    'At start, an unreachable database is retried (backoff) this long before the process exits 1; containers often start before their database',
    30_000
  ),
  DATA_DIR: Type.String({ default: '.data', description: 'Where the embedded PostgreSQL keeps its data' }),
  EMBEDDED_POSTGRES_DIR: Type.String({
    default: '/var/tmp/catalog-api',
    minLength: 1,
    description:
      'Run as root: where the embedded PostgreSQL binaries and data are kept when the postgres user cannot reach node_modules or DATA_DIR (e.g. a clone in /root)'
  }),
  MIGRATE_ON_STARTUP: bool('Apply pending migrations at start', true),
  SEED_ON_STARTUP: bool(
    'Load the demo catalog at start when the catalog is empty (default: on with the embedded database)',
    false
  ),
  SEED_PRODUCTS: Type.Integer({
    minimum: 0,
    maximum: 10_000_000,
    default: 10_000,
    description: 'Demo products loaded by SEED_ON_STARTUP'
  }),

  REDIS_URL: Type.Optional(
    Type.String({
      pattern: '^rediss?://[^\\s]+$',
      description: 'redis:// or rediss:// URL; unset → in-process cache and rate limiter'
    })
  ),
  CACHE_TTL_SECONDS: Type.Integer({ minimum: 1, default: 300, description: 'Default cache TTL' }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({
    minimum: 1000,
    default: 900_000,
    description: 'Rate-limit window for anonymous clients'
  }),
  RATE_LIMIT_MAX_REQUESTS: Type.Integer({
    minimum: 1,
    default: 100,
    description: 'Requests per window for anonymous clients'
  }),
  REDIS_CLUSTER_NODES: optionalText(
    'Redis Cluster seed nodes, comma-separated host:port (e.g. the ElastiCache configuration endpoint); set → cluster mode, credentials and TLS from REDIS_URL'
  ),
  REDIS_KEY_PREFIX: Type.String({
    default: 'catalog:',
    maxLength: 100,
    pattern: '^[^{}\\s]*$',
    description: 'Prefix of every Redis key this service writes (no braces or spaces)'
  }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({
    minimum: 10,
    default: 150,
    description: 'A Redis command that gets no answer within this many ms fails (silent network)'
  }),
  REDIS_CONNECT_TIMEOUT_MS: Type.Integer({
    minimum: 50,
    default: 500,
    description: 'Redis connection attempts give up after this many ms'
  }),
  REDIS_BREAKER_FAILURES: Type.Integer({
    minimum: 1,
    default: 5,
    description: 'Redis failures within REDIS_BREAKER_WINDOW_MS that open the circuit'
  }),
  REDIS_BREAKER_WINDOW_MS: ms('Window in which Redis failures are counted', 10_000),
  REDIS_BREAKER_PROBE_MS: Type.Integer({
    minimum: 50,
    default: 5000,
    description: 'While the circuit is open, Redis is probed in the background this often'
  }),
  CACHE_ENABLED: bool('Serve catalog reads through the response cache', true),
  CACHE_LOCAL_MAX_ENTRIES: Type.Integer({
    minimum: 0,
    default: 10_000,
    description:
      'Entries kept in process (in front of Redis, checked against its tag versions; the whole cache without Redis)'
  }),
  CDN_MAX_AGE_SECONDS: Type.Integer({
    minimum: 0,
    maximum: 86_400,
    default: 5,
    description:
      'How long a CDN may serve anonymous catalog reads without asking (s-maxage; stale-while-revalidate the same); 0 → it revalidates every time'
  }),
  RATE_LIMIT_ENABLED: bool('Rate limiting on (every route but /health* and /metrics)', true),
  RATE_LIMIT_RULES: Type.String({
    default: '',
    description:
      'Overrides, ";"-separated "name: selector max/window": selector is "METHOD[,METHOD] /route" (a route template or *) or "role:ROLE" (API keys); e.g. "writes: POST,PATCH,DELETE * 30/60s; editors: role:editor 1000/15m" (docs/operations.md)'
  }),
  RATE_LIMIT_STOREFRONT: Type.String({
    default: '6000/1m',
    pattern: '^[0-9]+/[0-9]+(ms|s|m|h)$',
    description:
      'Quota of each storefront API key ("max/window"), unless RATE_LIMIT_RULES has a role:storefront rule: one key serves many shoppers'
  }),
  RATE_LIMIT_FALLBACK_DIVISOR: Type.Integer({
    minimum: 1,
    default: 1,
    description: 'While Redis is down each instance allows max/divisor per window (set to the instance count)'
  }),
  RATE_LIMIT_FALLBACK_MAX_CLIENTS: Type.Integer({
    minimum: 100,
    default: 100_000,
    description: 'Clients tracked by the in-memory limiter at most (oldest dropped first)'
  }),

  CORS_ORIGIN: Type.String({
    default: '',
    description: 'Comma-separated list of allowed browser origins (empty = none)'
  }),
  SWAGGER_HOST: optionalText('Public host (and optional scheme) used as the OpenAPI server URL, e.g. api.example.com'),
  DEFAULT_CURRENCY: Type.Enum([...Intl.supportedValuesOf('currency')], {
    default: 'USD',
    description: 'ISO 4217 currency of minPrice, maxPrice and the price sorts of product lists without ?currency='
  }),
  CURSOR_SECRET: optionalText('Key that signs pagination cursors; set the same value on every instance'),
  BOOTSTRAP_ADMIN_API_KEY: optionalText('An admin API key registered at start (for compose and CI)'),
  REQUEST_TIMEOUT_MS: ms(
    'A request (headers and body) must arrive within this many ms (0 = none); an import upload is bound by IMPORT_IDLE_TIMEOUT_MS instead',
    30_000
  ),
  HEADERS_TIMEOUT_MS: ms('Request headers must arrive within this many ms', 10_000),
  KEEP_ALIVE_TIMEOUT_MS: ms(
    'Idle keep-alive connections close after this many ms; keep above the load balancer idle timeout (ALB: 60 s)',
    72_000
  ),
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: ms('Shed load (503) while the event loop lags more than this (0 = off)', 1000),
  PRESSURE_MAX_HEAP_USED_BYTES: Type.Integer({
    minimum: 0,
    default: 0,
    description: 'Shed load while the V8 heap uses more than this (0 = off)'
  }),
  PRESSURE_MAX_RSS_BYTES: Type.Integer({
    minimum: 0,
    default: 0,
    description: 'Shed load while the resident set exceeds this (0 = off)'
  }),
  PRESSURE_MAX_EVENT_LOOP_UTILIZATION: Type.Number({
    minimum: 0,
    maximum: 1,
    default: 0,
    description: 'Shed load above this event-loop utilisation, 0..1 (0 = off)'
  }),
  // At least a few event-loop-delay samples (10 ms apart) per interval: an empty one reads as infinite delay.
  PRESSURE_SAMPLE_INTERVAL_MS: Type.Integer({
    minimum: 50,
    default: 1000,
    description: 'How often load is sampled (≥ 50)'
  }),
  HEALTH_CHECK_TIMEOUT_MS: Type.Integer({
    minimum: 50,
    default: 1000,
    description: 'Each readiness check gives up after this many ms'
  }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 102_400, description: 'Largest accepted request body' }),
  IMPORT_MAX_BYTES: Type.Integer({
    minimum: 1024,
    default: 1_073_741_824,
    description: 'Largest body of POST /api/v1/imports (streamed: memory stays flat whatever the size); larger → 413'
  }),
  IMPORT_IDLE_TIMEOUT_MS: ms(
    'POST /api/v1/imports is not bound by REQUEST_TIMEOUT_MS but aborted (408) when no byte of its body arrives for this many ms (0 = none)',
    30_000
  ),
  EXPORT_IDLE_TIMEOUT_MS: ms(
    'GET /api/v1/exports/products is cut off (its connection closed, its database snapshot released) when bytes of it wait and the client takes none for this many ms (0 = none)',
    60_000
  ),
  TRUST_PROXY: Type.String({
    default: '',
    pattern: '^$|^\\d+$|^[0-9A-Fa-f.:/]+(,\\s*[0-9A-Fa-f.:/]+)*$',
    description:
      'Proxies trusted for X-Forwarded-For: a hop count (1 behind an ALB) or a comma-separated IP/CIDR list (empty = none)'
  }),
  SENTRY_DSN: optionalText('Sentry DSN; unset → Sentry is not loaded'),
  SENTRY_TRACES_SAMPLE_RATE: Type.Optional(
    Type.Number({ minimum: 0, maximum: 1, description: 'Default 0.1 in production, 1.0 otherwise' })
  ),
  METRICS_PORT: Type.Optional(port('Serve /metrics on this port instead of PORT')),
  METRICS_TOKEN: optionalText('Bearer token required by /metrics'),
  GIT_COMMIT: optionalText(
    'Commit the running build was made from, shown by catalog_build_info; unset → the one recorded by npm run build, else unknown'
  ),
  SHUTDOWN_DRAIN_MS: ms('After SIGTERM, keep serving this long while the load balancer deregisters', 0),
  SHUTDOWN_GRACE_MS: ms(
    'After the listener closes, connections already accepted stay open this long; a request arriving on one is answered (with Connection: close)',
    1000
  ),
  SHUTDOWN_TIMEOUT_MS: ms('Upper bound for a graceful stop', 30000),
  AUDIT_RETENTION_DAYS: Type.Integer({
    minimum: 1,
    default: 365,
    description: 'Audit entries older than this are removed'
  }),
  AUDIT_RETENTION_INTERVAL_MS: ms(
    'How often one instance removes expired audit entries and idempotency keys (0 = never)',
    3_600_000
  ),
  AUDIT_RETENTION_BATCH_SIZE: Type.Integer({
    minimum: 1,
    maximum: 100_000,
    default: 1000,
    description: 'Rows removed per retention statement'
  }),
  AUDIT_SEAL_INTERVAL_MS: ms(
    'How often each instance tries to seal committed audit entries into the hash chain (one at a time across ' +
      'instances; also shortly after each write). 0 = this instance never seals (another must)',
    250
  ),
  AUDIT_SEAL_THREAD: bool(
    'Run the seal passes on a worker thread with its own database connection (one more than DB_POOL_MAX); ' +
      'false = on the main thread, with a connection of the primary pool',
    true
  ),
  AUDIT_SEAL_MAX_DELAY_MS: Type.Integer({
    minimum: 100,
    default: 5000,
    description:
      'An audit entry still unsealed this long after it was written is reported by npm run audit:verify; ' +
      'must exceed AUDIT_SEAL_INTERVAL_MS'
  }),
  EVENTS_ENABLED: bool(
    'Record a change event for every committed catalog change (GET /api/v1/events, webhooks); false = none are recorded',
    true
  ),
  EVENT_RETENTION_DAYS: Type.Integer({
    minimum: 1,
    default: 7,
    description: 'Change events older than this leave the feed (independent of AUDIT_RETENTION_DAYS)'
  }),
  EVENT_RETENTION_INTERVAL_MS: ms('How often one instance removes expired change events (0 = never)', 3_600_000),
  WEBHOOK_ALLOW_HTTP: bool('Accept http:// webhook URLs (development only); false = https only', false),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool(
    'Accept webhook URLs that resolve to loopback, private, link-local, multicast or unspecified addresses (tests, ' +
      'development); false = refused at creation and at every delivery',
    false
  ),
  WEBHOOK_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 60_000,
    default: 10_000,
    description: 'A webhook delivery that has not answered within this time fails (and is retried)'
  }),
  WEBHOOK_DISPATCH_ENABLED: bool('This instance delivers webhooks (every instance may; none delivers twice)', true),
  WEBHOOK_CONCURRENCY: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 64,
    description: 'Webhook deliveries in flight at once per instance'
  }),
  WEBHOOK_DISPATCH_INTERVAL_MS: Type.Integer({
    minimum: 10,
    default: 1000,
    description: 'How often an idle instance looks for due webhook deliveries (new events wake it at once)'
  }),
  WEBHOOK_RETRY_DELAYS: Type.String({
    default: '5s,30s,5m,30m,2h,6h',
    pattern: '^\\d+(ms|s|m|h)(,\\d+(ms|s|m|h))*$',
    description: 'Waits before the 2nd, 3rd, … attempt of a failed delivery (each ±20 % jitter), e.g. 5s,30s,5m'
  }),
  WEBHOOK_RETRY_REPEAT: Type.String({
    default: '12h',
    pattern: '^\\d+(ms|s|m|h)$',
    description: 'After WEBHOOK_RETRY_DELAYS, a failed delivery is retried this often'
  }),
  WEBHOOK_RETRY_FOR: Type.String({
    default: '72h',
    pattern: '^\\d+(ms|s|m|h)$',
    description:
      'A delivery still failing this long after its event is given up and its subscription disabled (with the reason)'
  }),
  IDEMPOTENCY_KEY_TTL_HOURS: Type.Integer({
    minimum: 24,
    default: 24,
    description: 'Idempotency-Key records are kept this long (at least 24), then pruned'
  })
})

export type Config = Readonly<Static<typeof ConfigSchema>>

const ajv = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true, removeAdditional: false })
const check = ajv.compile(ConfigSchema)

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
  }
}

/** What describeAccepted reads of a property's JSON Schema. */
interface SchemaFacts {
  description?: string
  type?: string
  minimum?: number
  maximum?: number
}

function describeAccepted(key: string): string {
  const prop = (ConfigSchema.properties as unknown as Record<string, SchemaFacts>)[key]
  if (!prop) return ''
  const parts: string[] = []
  if (prop.description) parts.push(prop.description)
  if (prop.type === 'integer')
    parts.push(
      `an integer${prop.minimum !== undefined ? ` ≥ ${prop.minimum}` : ''}${prop.maximum !== undefined ? ` ≤ ${prop.maximum}` : ''}`
    )
  if (prop.type === 'boolean') parts.push('true or false')
  return parts.join('; ')
}

/**
 * Reads the configuration from `env` (after `.env` was loaded into it), applies defaults and
 * fails with one message per bad variable. Empty strings count as unset.
 */
/** The configuration, or on a bad value its problems on stderr and exit 78 (EX_CONFIG): for processes' entry points. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(78)
    }
    throw err
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key]
    if (value === undefined || value === '') continue
    raw[key] = key === 'LOG_LEVEL' || key === 'NODE_ENV' ? value.trim().toLowerCase() : value.trim()
  }
  if (!check(raw)) {
    const seen = new Set<string>()
    const problems: string[] = []
    for (const err of check.errors ?? []) {
      const key = err.instancePath.replace(/^\//, '').split('/')[0] ?? ''
      if (!key || seen.has(key)) continue
      seen.add(key)
      problems.push(`${key}=${JSON.stringify(env[key])} is invalid: expected ${describeAccepted(key)}`)
    }
    throw new ConfigError(problems)
  }
  const config = raw as Static<typeof ConfigSchema>
  if (config.DB_POOL_MIN > config.DB_POOL_MAX) {
    throw new ConfigError([
      `DB_POOL_MIN=${config.DB_POOL_MIN} is invalid: expected at most DB_POOL_MAX (${config.DB_POOL_MAX})`
    ])
  }
  if (config.AUDIT_SEAL_INTERVAL_MS >= config.AUDIT_SEAL_MAX_DELAY_MS) {
    throw new ConfigError([
      `AUDIT_SEAL_INTERVAL_MS=${config.AUDIT_SEAL_INTERVAL_MS} is invalid: expected less than AUDIT_SEAL_MAX_DELAY_MS (${config.AUDIT_SEAL_MAX_DELAY_MS}), or entries would wait longer than the bound`
    ])
  }
  const insecure = productionProblems(config)
  if (insecure.length) throw new ConfigError(insecure)
  try {
    parseRules(config.RATE_LIMIT_RULES)
  } catch (err) {
    throw new ConfigError([
      `RATE_LIMIT_RULES=${JSON.stringify(config.RATE_LIMIT_RULES)} is invalid: ${(err as Error).message}`
    ])
  }
  return Object.freeze(config)
}

/**
 * Fastify's trustProxy from TRUST_PROXY: off, a hop count, or a list of addresses and CIDR ranges.
 * A hop count trusts that many proxies in front of us (1 behind an ALB that only it can reach); Fastify
 * itself treats a bare number as "trust nothing", so the count becomes a function.
 */
export function trustProxySetting(config: Config): false | string[] | ((address: string, hop: number) => boolean) {
  const value = config.TRUST_PROXY.trim()
  if (value === '' || value === '0') return false
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    return (_address, hop) => hop < hops
  }
  return value.split(',').map((part) => part.trim())
}

export const usesEmbeddedDatabase = (config: Config) => config.DB_HOST === undefined
