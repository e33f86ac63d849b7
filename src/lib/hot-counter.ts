import { Counter, type CounterConfiguration } from 'prom-client'

type Labels<T extends string> = Partial<Record<T, string | number>>

/** One label set of a HotCounter: counting is one addition; the sum reaches prom-client when it is read. */
export class CounterSeries<T extends string = string> {
  /** Counted since the last read. */
  pending = 0

  constructor(readonly labels: Labels<T>) {}

  inc(): void {
    this.pending++
  }
}

/**
 * A prom-client counter for the request path. prom-client hashes the labels on every `inc`; here each label set
 * is a CounterSeries found by its label values once (callers keep it, e.g. per route), an increment is one
 * addition, and the sums reach the counter whenever it is read (scrape, `get()`), so what is exported is
 * unchanged. Equal label values always give the same series.
 */
export class HotCounter<T extends string> {
  readonly counter: Counter<T>
  private readonly known = new Map<string, CounterSeries<T>>()

  constructor(config: Omit<CounterConfiguration<T>, 'collect'> & { labelNames: readonly T[] }) {
    const known = this.known
    this.counter = new Counter<T>({
      ...config,
      collect() {
        for (const series of known.values()) {
          if (series.pending === 0) continue
          this.inc(series.labels, series.pending)
          series.pending = 0
        }
      }
    })
    this.keyOf = (labels) => config.labelNames.map((name) => String(labels[name] ?? '')).join('\u0000')
  }

  private readonly keyOf: (labels: Labels<T>) => string

  /** The series of these label values (the same one for equal values): keep it and call its `inc`. */
  series(labels: Labels<T>): CounterSeries<T> {
    const key = this.keyOf(labels)
    let series = this.known.get(key)
    if (!series) this.known.set(key, (series = new CounterSeries(labels)))
    return series
  }
}
