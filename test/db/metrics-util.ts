import type { FastifyInstance } from 'fastify'

/** Sum of a metric's samples whose labels include `labels` (histograms: their `_count`). */
export async function metricSum(
  app: FastifyInstance,
  name: string,
  labels: Record<string, string> = {}
): Promise<number> {
  const metric = app.metrics.registry.getSingleMetric(name)
  if (!metric) throw new Error(`no metric ${name}`)
  const { values } = await metric.get()
  return (
    values
      // Histograms list _bucket, _sum and _count samples: only _count counts.
      .filter((v) => !('metricName' in v) || v.metricName === name || v.metricName === `${name}_count`)
      .filter((v) =>
        Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want)
      )
      .reduce((sum, v) => sum + v.value, 0)
  )
}

/** The label sets of a metric's samples with a value above zero. */
export async function metricLabels(app: FastifyInstance, name: string): Promise<Record<string, string>[]> {
  const metric = app.metrics.registry.getSingleMetric(name)
  if (!metric) throw new Error(`no metric ${name}`)
  const { values } = await metric.get()
  return values.filter((v) => v.value > 0).map((v) => v.labels as Record<string, string>)
}
