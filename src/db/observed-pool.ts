import pg from 'pg'

/** Where a pool reports how long checkouts and queries took. */
export interface PoolObserver {
  acquired(seconds: number, failed: boolean): void
  /** `text` is the statement's SQL. */
  queried(text: string, seconds: number, failed: boolean): void
}

type Callback = (err: Error | null, ...rest: unknown[]) => void
type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: unknown) => void
) => void

const since = (started: number) => (performance.now() - started) / 1000

/**
 * A pg.Client class whose queries are timed; pg-pool makes its clients from it (its documented `Client`
 * option). Every form of `query` (text, config object, callback or promise) arrives here; a Submittable
 * (pg-cursor, pg-query-stream) is passed through untimed.
 */
function observedClient(observer: PoolObserver): typeof pg.Client {
  return class ObservedClient extends pg.Client {
    // pg's query has a dozen overloads; they all end in this one implementation.
    override query(...args: unknown[]): never {
      // Spread as one overload's parameters for the compiler; at run time pg gets exactly `args`.
      const run = (): never => super.query(...(args as [pg.QueryConfig])) as never
      const first = args[0] as { text?: unknown; submit?: unknown } | string | undefined
      const text = typeof first === 'string' ? first : first?.text
      if (typeof text !== 'string' || (typeof first === 'object' && typeof first?.submit === 'function')) return run()
      const started = performance.now()
      const done = (err: unknown) => observer.queried(text, since(started), Boolean(err))
      const last = args.at(-1)
      if (typeof last === 'function') {
        args[args.length - 1] = (err: Error | null, ...rest: unknown[]) => {
          done(err)
          ;(last as Callback)(err, ...rest)
        }
        return run()
      }
      const result = run() as unknown as Promise<unknown> | undefined
      result?.then?.(
        () => done(undefined),
        (err: unknown) => done(err)
      )
      return result as never
    }
  }
}

/**
 * A pg.Pool whose checkouts (including connecting) and queries are timed. pg-pool's own `query()` checks out
 * through `connect`, so every query is seen once as a checkout and once as a query.
 */
export class ObservedPool extends pg.Pool {
  constructor(
    config: pg.PoolConfig,
    private readonly observer: PoolObserver
  ) {
    super({ ...config, Client: observedClient(observer) })
  }

  override connect(): Promise<pg.PoolClient>
  override connect(callback: ConnectCallback): void
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    const started = performance.now()
    if (typeof callback === 'function') {
      return super.connect((err, client, done) => {
        this.observer.acquired(since(started), Boolean(err))
        callback(err, client, done)
      })
    }
    return super.connect().then(
      (client) => {
        this.observer.acquired(since(started), false)
        return client
      },
      (err: unknown) => {
        this.observer.acquired(since(started), true)
        throw err
      }
    )
  }
}
