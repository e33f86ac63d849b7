/**
 * A Map that holds at most `max` entries: setting a key moves it to the newest position, and a set past the
 * bound drops the oldest. Reads do not reorder (a hit costs one Map lookup), so eviction follows the order of
 * writes: the entry written longest ago goes first.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>()

  constructor(readonly max: number) {
    if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`max must be a whole number ≥ 0, got ${max}`)
  }

  get size(): number {
    return this.map.size
  }

  get(key: K): V | undefined {
    return this.map.get(key)
  }

  has(key: K): boolean {
    return this.map.has(key)
  }

  /** Stores `value` as the newest entry; with `max` 0 nothing is kept. */
  set(key: K, value: V): this {
    this.map.delete(key)
    if (this.max === 0) return this
    this.map.set(key, value)
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K)
    return this
  }

  delete(key: K): boolean {
    return this.map.delete(key)
  }

  clear(): void {
    this.map.clear()
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries()
  }
}
