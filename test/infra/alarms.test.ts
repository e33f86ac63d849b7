import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { ofType, only, skip, synth, taskDefinition, type Resource } from './synth.js'

function alarm(resources: Record<string, Resource>, name: string) {
  return only(resources, 'AWS::CloudWatch::Alarm', (a) => a.Properties.AlarmName === `catalog-${name}`)[1].Properties
}

test('every alarm notifies the SNS topic', { skip }, async () => {
  const { resources } = await synth()
  const [topicId] = only(resources, 'AWS::SNS::Topic', () => true)
  const alarms = ofType(resources, 'AWS::CloudWatch::Alarm')
  assert.ok(alarms.length >= 20, `${alarms.length} alarms`)
  for (const [, a] of alarms) {
    assert.deepEqual(a.Properties.AlarmActions, [{ Ref: topicId }], a.Properties.AlarmName)
    assert.deepEqual(a.Properties.OKActions, [{ Ref: topicId }], a.Properties.AlarmName)
  }
})

test(
  'ALB alarms: 5xx rate, p95 latency of reads and writes against the seed targets, unhealthy hosts',
  { skip },
  async () => {
    const { resources, infra } = await synth()
    const rate = alarm(resources, 'alb-5xx-rate')
    assert.equal(rate.Threshold, infra.THRESHOLDS.alb5xxPercent)
    const expression = (rate.Metrics as { Expression?: string }[]).find((m) => m.Expression)?.Expression
    assert.match(expression ?? '', /target5xx.*alb5xx.*\/ requests/)
    const latency = (name: string, statistic: string, seconds: number) => {
      const a = alarm(resources, name)
      assert.equal(a.ExtendedStatistic, statistic, name)
      assert.equal(a.MetricName, 'TargetResponseTime', name)
      assert.equal(a.Threshold, seconds, name)
      assert.equal(a.ComparisonOperator, 'GreaterThanThreshold', name)
    }
    latency('read-latency-p95', 'p95', 0.2) // uncached reads: 200 ms (hits only lower it)
    latency('write-latency-p95', 'p95', 0.3) // writes: 300 ms
    for (const group of ['reads', 'writes']) {
      const a = alarm(resources, `unhealthy-hosts-${group}`)
      assert.equal(a.MetricName, 'UnHealthyHostCount')
      assert.equal(a.Threshold, 0)
    }
  }
)

test(
  "the cached-read alarm: p95 of the app's own duration of cache hits, from its request log, over 50 ms",
  { skip },
  async () => {
    const { resources, infra } = await synth()
    const metric = infra.CACHED_READ_METRIC
    // The fields test/app/logs.test.ts pins on every request line: msg, cache ("hit" when served from the cache), ms.
    assert.equal(metric.filterPattern, '{ ($.msg = "request completed") && ($.cache = "hit") }')
    const [, filter] = only(
      resources,
      'AWS::Logs::MetricFilter',
      (f) => f.Properties.FilterPattern === metric.filterPattern
    )
    const [logGroupId] = only(resources, 'AWS::Logs::LogGroup', (g) => g.Properties.LogGroupName === '/catalog/api')
    assert.deepEqual(filter.Properties.LogGroupName, { Ref: logGroupId })
    assert.deepEqual(filter.Properties.MetricTransformations, [
      { MetricNamespace: metric.namespace, MetricName: metric.name, MetricValue: '$.ms', Unit: 'Milliseconds' }
    ])
    const a = alarm(resources, 'cached-read-latency-p95')
    assert.equal(a.Namespace, metric.namespace)
    assert.equal(a.MetricName, metric.name)
    assert.equal(a.ExtendedStatistic, 'p95')
    assert.equal(a.Threshold, 50) // ms: the seed's cached-read target
    assert.equal(a.ComparisonOperator, 'GreaterThanThreshold')
    assert.equal(
      ofType(resources, 'AWS::CloudWatch::Alarm').filter(([, x]) => x.Properties.ExtendedStatistic === 'p50').length,
      0,
      'no median stands in for a p95'
    )
  }
)

test('ECS, RDS and Redis alarms with their thresholds', { skip }, async () => {
  const { resources, infra } = await synth()
  const t = infra.THRESHOLDS
  const expect = (name: string, metric: string, threshold: number, below = false) => {
    const a = alarm(resources, name)
    assert.equal(a.MetricName, metric, name)
    assert.equal(a.Threshold, threshold, name)
    assert.equal(a.ComparisonOperator, below ? 'LessThanThreshold' : 'GreaterThanThreshold', name)
  }
  expect('ecs-cpu', 'CPUUtilization', t.ecsCpuPercent)
  expect('ecs-memory', 'MemoryUtilization', t.ecsMemoryPercent)
  for (const db of ['primary', 'replica']) {
    expect(`db-${db}-cpu`, 'CPUUtilization', t.dbCpuPercent)
    expect(`db-${db}-free-storage`, 'FreeStorageSpace', t.dbFreeStorageBytes, true)
    expect(`db-${db}-connections`, 'DatabaseConnections', t.dbConnections)
  }
  expect('db-replica-lag', 'ReplicaLag', t.replicaLagSeconds)
  for (const node of infra.REDIS_NODE_IDS) {
    expect(`redis-${node}-memory`, 'DatabaseMemoryUsagePercentage', t.redisMemoryPercent)
    expect(`redis-${node}-evictions`, 'Evictions', t.redisEvictionsPer5Min)
    expect(`redis-${node}-cpu`, 'EngineCPUUtilization', t.redisEngineCpuPercent)
  }
})

test(
  'cdk-nag AwsSolutionsChecks: no unacknowledged finding, and every acknowledgement says why',
  { skip },
  async () => {
    const { app, infra } = await synth()
    const report = new infra.AwsSolutionsChecks().validateScope(app)
    const findings = report.violations.map(
      (v) => `${v.ruleName} (${v.severity}) at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`
    )
    assert.deepEqual(findings, [])
    assert.equal(report.success, true)
    const reasons: string[] = []
    const visit = (node: typeof app.node.root) => {
      for (const entry of node.node.metadata)
        if (entry.type === infra.Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          reasons.push(...Object.values(entry.data as Record<string, string>))
      for (const child of node.node.children) visit(child)
    }
    visit(app)
    assert.ok(reasons.length >= 20, `${reasons.length} acknowledgements`)
    for (const reason of reasons) assert.ok(reason.length >= 40, `a reason, not a label: ${reason}`)
  }
)

test(
  'docs/deploy.md names every ECS secret, the migration task, the alarm count, and the cost table counts the endpoints, NAT gateways, alarms, secrets and keys the stack has',
  { skip },
  async () => {
    const { resources } = await synth()
    const doc = await readFile(new URL('../../docs/deploy.md', import.meta.url), 'utf8')
    const { containers } = taskDefinition(resources, 'catalog-api')
    for (const { Name } of containers.api?.Secrets as { Name: string }[]) assert.ok(doc.includes(`\`${Name}\``), Name)
    const migrate = taskDefinition(resources, 'catalog-migrate')
    assert.ok(migrate.containers.migrate, 'container migrate')
    assert.match(doc, /aws ecs run-task --cluster "\$CLUSTER" --task-definition catalog-migrate --launch-type FARGATE/)
    assert.match(doc, /containers\[\?name=='migrate'\]\.exitCode/)
    const alarms = ofType(resources, 'AWS::CloudWatch::Alarm').length
    assert.match(doc, new RegExp(`${alarms} CloudWatch alarms`))
    assert.equal((doc.match(/^fields .*$/gm) ?? []).length >= 2, true, 'two Logs Insights queries')
    // The cost table counts what the stack creates.
    const count = (type: string) => ofType(resources, type).length
    const interfaces = ofType(resources, 'AWS::EC2::VPCEndpoint').filter(
      ([, e]) => e.Properties.VpcEndpointType === 'Interface'
    )
    const azs = new Set(ofType(resources, 'AWS::EC2::Subnet').map(([, s]) => s.Properties.AvailabilityZone)).size
    const row = (item: string) => doc.split('\n').find((line) => line.startsWith(`| ${item} |`)) ?? ''
    assert.ok(row('VPC interface endpoints').includes(`${interfaces.length} endpoints × ${azs} AZs`), 'endpoints')
    assert.ok(row('NAT gateway').includes(`${count('AWS::EC2::NatGateway')} gateway`), 'NAT gateways')
    assert.match(row(`CloudWatch (logs, Container Insights, ${alarms} alarms, monitoring)`), /\$/, 'alarms')
    const keys = count('AWS::KMS::Key')
    assert.ok(
      row('Secrets Manager, KMS').includes(
        `${count('AWS::SecretsManager::Secret')} secrets, ${keys} key${keys === 1 ? '' : 's'}`
      ),
      'secrets and keys'
    )
  }
)
