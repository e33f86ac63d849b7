import { Counter, type CounterConfiguration } from 'prom-client'

type Labels<T extends string> = Partial<Record<T, string | number>>

/**
 * A prom-client counter for the request path. prom-client hashes the labels on every `inc`; here an
 * increment is one Map update keyed by the labels object itself (callers keep one object per label set),
 * and the sums reach the counter whenever it is read (scrape, `get()`), so what is exported is unchanged.
 */
export class HotCounter<T extends string> {
  readonly counter: Counter<T>
  private readonly pending = new Map<Labels<T>, number>()

  constructor(config: Omit<CounterConfiguration<T>, 'collect'>) {
    const pending = this.pending
    this.counter = new Counter<T>({
      ...config,
      collect() {
        for (const [labels, count] of pending) this.inc(labels, count)
        pending.clear()
      }
    })
  }

  /** Counts one for `labels`: keep the object and pass the same one again. */
  inc(labels: Labels<T>): void {
    this.pending.set(labels, (this.pending.get(labels) ?? 0) + 1)
  }

  /** One labels object per distinct key, for callers whose label values vary. */
  static labelsBy<K, L>(make: (key: K) => L): (key: K) => L {
    const known = new Map<K, L>()
    return (key) => {
      let labels = known.get(key)
      if (labels === undefined) known.set(key, (labels = make(key)))
      return labels
    }
  }
}
