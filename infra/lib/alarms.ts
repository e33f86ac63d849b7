import {
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as actions,
  aws_iam as iam,
  aws_kms as kms,
  aws_logs as logs,
  aws_sns as sns,
  aws_sns_subscriptions as subscriptions,
  Duration,
  aws_elasticloadbalancingv2 as elbv2
} from 'aws-cdk-lib'
import { Construct } from 'constructs'
import { REDIS_NODE_IDS } from './cache.js'
import type { Database } from './database.js'
import type { Edge } from './edge.js'
import type { Service } from './service.js'
import { LATENCY_TARGETS } from './settings.js'

/**
 * The app's own latency of reads served from the cache, from its request log: every `request completed` line of a
 * cache hit carries `cache: "hit"` and `ms` (test/app/logs.test.ts). The ALB cannot tell a hit from a miss.
 */
export const CACHED_READ_METRIC = {
  namespace: 'Catalog/Api',
  name: 'CachedReadLatency',
  filterPattern: '{ ($.msg = "request completed") && ($.cache = "hit") }',
  value: '$.ms'
} as const

/** Thresholds, named so the tests and docs/deploy.md can quote them. */
export const THRESHOLDS = {
  alb5xxPercent: 1,
  ecsCpuPercent: 85,
  ecsMemoryPercent: 85,
  dbCpuPercent: 80,
  dbFreeStorageBytes: 10 * 1024 ** 3,
  // max_connections on db.t4g.medium is about 400 (RAM / 9.5 MB); 10 tasks open at most 210 (20 + a seal thread's
  // 1 each) on the primary and 300 on the replica.
  dbConnections: 320,
  replicaLagSeconds: 30,
  redisMemoryPercent: 80,
  redisEvictionsPer5Min: 100,
  redisEngineCpuPercent: 80
} as const

export interface AlarmsProps {
  edge: Edge
  service: Service
  database: Database
  alarmEmail?: string
}

/** Every alarm notifies one SNS topic (encrypted with a key CloudWatch may use); e-mail it with context alarmEmail. */
export class Alarms extends Construct {
  readonly topic: sns.Topic

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id)
    const key = new kms.Key(this, 'TopicKey', { enableKeyRotation: true, description: 'Catalog alarm topic' })
    key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*')
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'Catalog API alarms', masterKey: key, enforceSSL: true })
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail))
    const notify = new actions.SnsAction(this.topic)

    const alarm = (
      name: string,
      metric: cloudwatch.IMetric,
      threshold: number,
      description: string,
      options: { below?: boolean; periods?: number; datapoints?: number } = {}
    ) => {
      const a = new cloudwatch.Alarm(this, name, {
        alarmName: `catalog-${name}`,
        alarmDescription: description,
        metric,
        threshold,
        comparisonOperator: options.below
          ? cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
          : cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: options.periods ?? 3,
        datapointsToAlarm: options.datapoints ?? options.periods ?? 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING
      })
      a.addAlarmAction(notify)
      a.addOkAction(notify)
      return a
    }
    const minute = Duration.minutes(1)
    const fiveMinutes = Duration.minutes(5)
    const { alb, reads, writes } = props.edge

    const m = (metric: cloudwatch.Metric) => metric.with({ period: minute, statistic: 'Sum' })
    alarm(
      'alb-5xx-rate',
      new cloudwatch.MathExpression({
        expression: 'IF(requests > 0, 100 * (FILL(target5xx, 0) + FILL(alb5xx, 0)) / requests, 0)',
        usingMetrics: {
          requests: m(alb.metrics.requestCount()),
          target5xx: m(alb.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT)),
          alb5xx: m(alb.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT))
        },
        period: minute,
        label: '5xx responses, % of requests'
      }),
      THRESHOLDS.alb5xxPercent,
      `More than ${THRESHOLDS.alb5xxPercent}% of responses were 5xx (target or ALB) in 3 of 5 minutes`,
      { periods: 5, datapoints: 3 }
    )

    const latency = (group: typeof reads, statistic: string) =>
      group.metrics.targetResponseTime({ statistic, period: fiveMinutes })
    alarm(
      'read-latency-p95',
      latency(reads, 'p95'),
      LATENCY_TARGETS.uncachedRead,
      `p95 of GET/HEAD over ${LATENCY_TARGETS.uncachedRead * 1000} ms (the uncached-read target; hits are faster)`,
      { periods: 3 }
    )
    const cachedReads = new logs.MetricFilter(this, 'CachedReadLatency', {
      logGroup: props.service.logGroup,
      filterPattern: logs.FilterPattern.literal(CACHED_READ_METRIC.filterPattern),
      metricNamespace: CACHED_READ_METRIC.namespace,
      metricName: CACHED_READ_METRIC.name,
      metricValue: CACHED_READ_METRIC.value,
      unit: cloudwatch.Unit.MILLISECONDS
    })
    alarm(
      'cached-read-latency-p95',
      cachedReads.metric({ statistic: 'p95', period: fiveMinutes }),
      LATENCY_TARGETS.cachedRead * 1000,
      `p95 of reads served from the cache over ${LATENCY_TARGETS.cachedRead * 1000} ms (the cached-read target; the app's own duration, from its request log)`,
      { periods: 3 }
    )
    alarm(
      'write-latency-p95',
      latency(writes, 'p95'),
      LATENCY_TARGETS.write,
      `p95 of writes over ${LATENCY_TARGETS.write * 1000} ms (the write target)`,
      { periods: 3 }
    )
    for (const [name, group] of [
      ['reads', reads],
      ['writes', writes]
    ] as const) {
      alarm(
        `unhealthy-hosts-${name}`,
        group.metrics.unhealthyHostCount({ statistic: 'Maximum', period: minute }),
        0,
        `A task fails the ALB health check (/health) in the ${name} target group`,
        { periods: 2 }
      )
    }

    const { service } = props.service
    alarm(
      'ecs-cpu',
      service.metricCpuUtilization({ period: fiveMinutes }),
      THRESHOLDS.ecsCpuPercent,
      `Service CPU over ${THRESHOLDS.ecsCpuPercent}% (auto scaling aims at 60%: at the maximum of tasks, or lagging)`
    )
    alarm(
      'ecs-memory',
      service.metricMemoryUtilization({ period: fiveMinutes }),
      THRESHOLDS.ecsMemoryPercent,
      `Service memory over ${THRESHOLDS.ecsMemoryPercent}%`
    )

    for (const [name, db] of [
      ['primary', props.database.primary],
      ['replica', props.database.replica]
    ] as const) {
      alarm(
        `db-${name}-cpu`,
        db.metricCPUUtilization({ period: fiveMinutes }),
        THRESHOLDS.dbCpuPercent,
        `RDS ${name} CPU over ${THRESHOLDS.dbCpuPercent}%`
      )
      alarm(
        `db-${name}-free-storage`,
        db.metricFreeStorageSpace({ period: fiveMinutes, statistic: 'Minimum' }),
        THRESHOLDS.dbFreeStorageBytes,
        `RDS ${name} has less than 10 GiB free storage`,
        { below: true, periods: 1 }
      )
      alarm(
        `db-${name}-connections`,
        db.metricDatabaseConnections({ period: fiveMinutes, statistic: 'Maximum' }),
        THRESHOLDS.dbConnections,
        `RDS ${name} has more than ${THRESHOLDS.dbConnections} connections (max_connections is about 400)`
      )
    }
    alarm(
      'db-replica-lag',
      props.database.replica.metric('ReplicaLag', { period: minute, statistic: 'Maximum' }),
      THRESHOLDS.replicaLagSeconds,
      `Read replica over ${THRESHOLDS.replicaLagSeconds} s behind (the app stops reading from it after DB_REPLICA_MAX_LAG_MS)`,
      { periods: 5 }
    )

    for (const node of REDIS_NODE_IDS) {
      const redis = (metricName: string, statistic: string) =>
        new cloudwatch.Metric({
          namespace: 'AWS/ElastiCache',
          metricName,
          dimensionsMap: { CacheClusterId: node },
          statistic,
          period: fiveMinutes
        })
      alarm(
        `redis-${node}-memory`,
        redis('DatabaseMemoryUsagePercentage', 'Maximum'),
        THRESHOLDS.redisMemoryPercent,
        `Redis ${node} memory over ${THRESHOLDS.redisMemoryPercent}% of maxmemory`
      )
      alarm(
        `redis-${node}-evictions`,
        redis('Evictions', 'Sum'),
        THRESHOLDS.redisEvictionsPer5Min,
        `Redis ${node} evicted more than ${THRESHOLDS.redisEvictionsPer5Min} keys in 5 minutes: the cache is too small`,
        { periods: 1 }
      )
      alarm(
        `redis-${node}-cpu`,
        redis('EngineCPUUtilization', 'Average'),
        THRESHOLDS.redisEngineCpuPercent,
        `Redis ${node} engine CPU over ${THRESHOLDS.redisEngineCpuPercent}%`
      )
    }
  }
}
