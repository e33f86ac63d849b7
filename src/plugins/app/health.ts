import fp from 'fastify-plugin'

export type CheckStatus = 'up' | 'down'

export interface DependencyCheck {
  /** A failing critical dependency makes the instance not ready; a failing optional one makes it degraded. */
  critical: boolean
  check: () => Promise<unknown>
}

export interface CheckResult {
  status: CheckStatus
  critical: boolean
  latencyMs: number
  error?: string
}

export interface Health {
  register(name: string, dependency: DependencyCheck): void
  run(): Promise<Record<string, CheckResult>>
  readonly shuttingDown: boolean
  /** While true, every response closes its connection (once the listener has closed). */
  readonly closesConnections: boolean
  beginShutdown(): void
  closeConnections(on: boolean): void
}

declare module 'fastify' {
  interface FastifyInstance {
    health: Health
  }
}

function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

/** Dependency checks for readiness, each bounded by its own timeout, and the shutdown state. */
export default fp(
  async (app) => {
    const timeoutMs = app.appOptions.config.HEALTH_CHECK_TIMEOUT_MS
    const dependencies = new Map<string, DependencyCheck>()
    let shuttingDown = false
    let closesConnections = false

    const health: Health = {
      register: (name, dependency) => {
        dependencies.set(name, dependency)
      },
      async run() {
        const entries = await Promise.all(
          [...dependencies].map(async ([name, dep]): Promise<[string, CheckResult]> => {
            const started = performance.now()
            try {
              await bounded(dep.check(), timeoutMs)
              return [name, { status: 'up', critical: dep.critical, latencyMs: round(performance.now() - started) }]
            } catch (err) {
              const error = err instanceof Error ? err.message : String(err)
              return [
                name,
                { status: 'down', critical: dep.critical, latencyMs: round(performance.now() - started), error }
              ]
            }
          })
        )
        return Object.fromEntries(entries)
      },
      get shuttingDown() {
        return shuttingDown
      },
      get closesConnections() {
        return closesConnections
      },
      beginShutdown() {
        shuttingDown = true
      },
      closeConnections(on) {
        closesConnections = on
      }
    }
    app.decorate('health', health)
  },
  { name: 'health' }
)

const round = (ms: number) => Math.round(ms * 100) / 100
