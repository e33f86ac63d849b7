import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../../src/config.js'
import { environmentOf, ofType, only, skip, synth, taskDefinition, type Resource, type Json } from './synth.js'

const attribute = (r: Resource, key: string) =>
  (r.Properties.LoadBalancerAttributes ?? r.Properties.TargetGroupAttributes ?? []).find(
    (a: { Key: string }) => a.Key === key
  )?.Value as string | undefined

test(
  'the VPC spreads public and private subnets over 2 AZs, with a NAT gateway and the endpoints tasks need',
  { skip },
  async () => {
    const { resources } = await synth()
    assert.equal(ofType(resources, 'AWS::EC2::VPC').length, 1)
    const subnets = ofType(resources, 'AWS::EC2::Subnet').map(([, s]) => s.Properties)
    const publicOnes = subnets.filter((s) => s.MapPublicIpOnLaunch === true)
    const privateOnes = subnets.filter((s) => s.MapPublicIpOnLaunch !== true)
    assert.ok(new Set(publicOnes.map((s) => s.AvailabilityZone)).size >= 2, 'public subnets in 2+ AZs')
    assert.ok(new Set(privateOnes.map((s) => s.AvailabilityZone)).size >= 2, 'private subnets in 2+ AZs')
    assert.ok(ofType(resources, 'AWS::EC2::NatGateway').length >= 1)
    const endpoints = ofType(resources, 'AWS::EC2::VPCEndpoint').map(([, e]) => e.Properties)
    const serviceOf = (e: Json) => JSON.stringify(e.ServiceName)
    for (const name of ['ecr.api', 'ecr.dkr', 'secretsmanager', 'logs']) {
      const found = endpoints.find((e) => serviceOf(e).includes(`.${name}`))
      assert.ok(found, `interface endpoint ${name}`)
      assert.equal(found.VpcEndpointType, 'Interface')
      assert.equal(found.PrivateDnsEnabled, true)
    }
    const s3 = endpoints.find((e) => serviceOf(e).includes('.s3'))
    assert.equal(s3?.VpcEndpointType, 'Gateway')
  }
)

test(
  'security groups: internet → ALB 80/443, ALB → tasks on the app port, tasks → PostgreSQL and Redis, nothing else in',
  { skip },
  async () => {
    const { resources, infra } = await synth()
    const { APP_PORT } = infra.settings
    const groups = Object.fromEntries(
      ofType(resources, 'AWS::EC2::SecurityGroup').map(([id, g]) => [id, g.Properties.GroupDescription as string])
    )
    const name = (ref: unknown) => {
      const id = (ref as { 'Fn::GetAtt'?: string[] })?.['Fn::GetAtt']?.[0] ?? ''
      return (groups[id] ?? id).split(':')[0]
    }
    // The rotation's rule names the instance's port by reference (Endpoint.Port); the instance listens on 5432.
    const port = (p: unknown) => (typeof p === 'number' ? p : JSON.stringify(p).includes('Endpoint.Port') ? 5432 : '?')
    const rules: string[] = []
    for (const [id, g] of ofType(resources, 'AWS::EC2::SecurityGroup'))
      for (const r of g.Properties.SecurityGroupIngress ?? [])
        rules.push(
          `${r.CidrIp ?? r.CidrIpv6 ?? name(r.SourceSecurityGroupId)} → ${groups[id]?.split(':')[0]}:${r.FromPort}-${r.ToPort}`
        )
    for (const [, r] of ofType(resources, 'AWS::EC2::SecurityGroupIngress')) {
      const p = r.Properties
      rules.push(
        `${p.CidrIp ?? name(p.SourceSecurityGroupId)} → ${name(p.GroupId)}:${port(p.FromPort)}-${port(p.ToPort)}`
      )
    }
    assert.deepEqual(
      rules.sort(),
      [
        '0.0.0.0/0 → Catalog ALB:443-443',
        '0.0.0.0/0 → Catalog ALB:80-80',
        `Catalog ALB → Catalog API tasks:${APP_PORT}-${APP_PORT}`,
        'Catalog API tasks → Catalog PostgreSQL:5432-5432',
        'Catalog API tasks → Catalog Redis:6379-6379',
        'Catalog API tasks → VPC interface endpoints:443-443',
        'Secret rotation function → Catalog PostgreSQL:5432-5432',
        'Secret rotation function → VPC interface endpoints:443-443'
      ].sort()
    )
  }
)

test(
  "security groups out: the ALB reaches only the tasks' app port; tasks only PostgreSQL, Redis and HTTPS; the data stores nothing",
  { skip },
  async () => {
    const { resources, infra } = await synth()
    const { APP_PORT } = infra.settings
    const groups = Object.fromEntries(
      ofType(resources, 'AWS::EC2::SecurityGroup').map(([id, g]) => [
        id,
        (g.Properties.GroupDescription as string).split(':')[0]
      ])
    )
    const name = (ref: unknown) => {
      const id = (ref as { 'Fn::GetAtt'?: string[] })?.['Fn::GetAtt']?.[0] ?? ''
      return groups[id] ?? id
    }
    const port = (p: unknown) => (typeof p === 'number' ? p : JSON.stringify(p).includes('Endpoint.Port') ? 5432 : '?')
    // CDK's placeholder for "no egress at all" on a group that allows none.
    const none = (r: Json) => r.CidrIp === '255.255.255.255/32' && r.IpProtocol === 'icmp'
    const rules: string[] = []
    for (const [id, g] of ofType(resources, 'AWS::EC2::SecurityGroup'))
      for (const r of (g.Properties.SecurityGroupEgress ?? []) as Json[])
        if (!none(r))
          rules.push(`${groups[id]} → ${r.CidrIp ?? name(r.DestinationSecurityGroupId)}:${r.FromPort}-${r.ToPort}`)
    for (const [, r] of ofType(resources, 'AWS::EC2::SecurityGroupEgress')) {
      const p = r.Properties
      rules.push(
        `${name(p.GroupId)} → ${p.CidrIp ?? name(p.DestinationSecurityGroupId)}:${port(p.FromPort)}-${port(p.ToPort)}`
      )
    }
    assert.deepEqual(
      rules.sort(),
      [
        `Catalog ALB → Catalog API tasks:${APP_PORT}-${APP_PORT}`,
        'Catalog API tasks → 0.0.0.0/0:443-443',
        'Catalog API tasks → Catalog PostgreSQL:5432-5432',
        'Catalog API tasks → Catalog Redis:6379-6379',
        'Secret rotation function → Catalog PostgreSQL:5432-5432',
        'Secret rotation function → VPC interface endpoints:443-443'
      ].sort()
    )
  }
)

test(
  'the ALB: HTTPS with the context certificate and a TLS 1.2+ policy, HTTP redirects, 60 s idle, access logs',
  { skip },
  async () => {
    const { resources, infra } = await synth()
    const [, alb] = only(resources, 'AWS::ElasticLoadBalancingV2::LoadBalancer', () => true)
    assert.equal(alb.Properties.Scheme, 'internet-facing')
    assert.equal(attribute(alb, 'idle_timeout.timeout_seconds'), String(infra.settings.ALB_IDLE_TIMEOUT_SECONDS))
    assert.equal(attribute(alb, 'access_logs.s3.enabled'), 'true')
    const listeners = ofType(resources, 'AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => l.Properties)
    const https = listeners.find((l) => l.Protocol === 'HTTPS')
    assert.equal(https?.Port, 443)
    assert.deepEqual(https?.Certificates, [{ CertificateArn: infra.cdkJsonContext().certificateArn }])
    assert.equal(https?.SslPolicy, 'ELBSecurityPolicy-TLS13-1-2-Res-2021-06')
    const http = listeners.find((l) => l.Protocol === 'HTTP')
    assert.deepEqual(http?.DefaultActions, [
      { Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } }
    ])
  }
)

test(
  'target groups check /health and drain for exactly SHUTDOWN_DRAIN_MS; GET/HEAD go to the reads group',
  { skip },
  async () => {
    const { resources, infra } = await synth()
    const groups = ofType(resources, 'AWS::ElasticLoadBalancingV2::TargetGroup')
    assert.equal(groups.length, 2)
    for (const [, g] of groups) {
      assert.equal(g.Properties.HealthCheckPath, '/health')
      assert.equal(g.Properties.Port, infra.settings.APP_PORT)
      assert.equal(
        attribute(g, 'deregistration_delay.timeout_seconds'),
        String(infra.settings.SHUTDOWN_DRAIN_MS / 1000)
      )
    }
    const [, rule] = only(resources, 'AWS::ElasticLoadBalancingV2::ListenerRule', () => true)
    assert.deepEqual(rule.Properties.Conditions, [
      { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['GET', 'HEAD'] } }
    ])
  }
)

test('WAF: common and known-bad-inputs rule sets and a rate-based rule, attached to the ALB', { skip }, async () => {
  const { resources } = await synth()
  const [aclId, acl] = only(resources, 'AWS::WAFv2::WebACL', () => true)
  const rules = acl.Properties.Rules as Json[]
  const managed = rules.map((r) => r.Statement.ManagedRuleGroupStatement?.Name).filter(Boolean)
  assert.deepEqual(managed.sort(), ['AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet'])
  const rate = rules.find((r) => r.Statement.RateBasedStatement)
  assert.equal(rate?.Statement.RateBasedStatement.AggregateKeyType, 'IP')
  assert.deepEqual(rate?.Action, { Block: {} })
  const [, assoc] = only(resources, 'AWS::WAFv2::WebACLAssociation', () => true)
  assert.deepEqual(assoc.Properties.WebACLArn, { 'Fn::GetAtt': [aclId, 'Arn'] })
  const albId = ofType(resources, 'AWS::ElasticLoadBalancingV2::LoadBalancer')[0]?.[0]
  assert.deepEqual(assoc.Properties.ResourceArn, { Ref: albId })
})

test(
  'the service: 3 Fargate tasks of 0.5 vCPU / 1 GB, circuit breaker with rollback, scaling 3–10 on CPU and requests',
  { skip },
  async () => {
    const { resources } = await synth()
    const [clusterId] = only(resources, 'AWS::ECS::Cluster', () => true)
    const [, service] = only(resources, 'AWS::ECS::Service', () => true)
    const p = service.Properties
    assert.deepEqual(p.Cluster, { Ref: clusterId })
    assert.equal(p.DesiredCount, 3)
    assert.equal(p.LaunchType, 'FARGATE')
    assert.deepEqual(p.DeploymentConfiguration.DeploymentCircuitBreaker, { Enable: true, Rollback: true })
    assert.equal(p.LoadBalancers.length, 2)
    const { task } = taskDefinition(resources, 'catalog-api')
    assert.equal(task.Properties.Cpu, '512')
    assert.equal(task.Properties.Memory, '1024')
    assert.deepEqual(task.Properties.RequiresCompatibilities, ['FARGATE'])
    const [, target] = only(resources, 'AWS::ApplicationAutoScaling::ScalableTarget', () => true)
    assert.equal(target.Properties.MinCapacity, 3)
    assert.equal(target.Properties.MaxCapacity, 10)
    const metrics = ofType(resources, 'AWS::ApplicationAutoScaling::ScalingPolicy').map(
      ([, s]) =>
        s.Properties.TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType
    )
    assert.deepEqual(metrics.sort(), ['ALBRequestCountPerTarget', 'ECSServiceAverageCPUUtilization'])
  }
)

test(
  'the app container: read-only root with a /tmp volume, health check, stop timeout after drain + shutdown, a valid config',
  { skip },
  async () => {
    const { resources, infra } = await synth()
    const { containers, task } = taskDefinition(resources, 'catalog-api')
    const app = containers.api
    assert.ok(app, 'container api')
    for (const c of Object.values(containers)) assert.equal(c.ReadonlyRootFilesystem, true, `${c.Name} read-only`)
    assert.deepEqual(app.MountPoints, [{ SourceVolume: 'tmp', ContainerPath: '/tmp', ReadOnly: false }])
    assert.deepEqual(task.Properties.Volumes, [{ Name: 'tmp' }])
    assert.deepEqual(app.DependsOn, [{ ContainerName: 'prepare', Condition: 'SUCCESS' }])
    assert.deepEqual(app.HealthCheck.Command.slice(0, 2), ['CMD', 'node'])
    assert.match(app.HealthCheck.Command.at(-1), /\/health\/live/)

    // The environment the task sets, plus stand-ins for its secrets, must pass the app's own config schema.
    const env = environmentOf(app)
    const secrets = Object.fromEntries((app.Secrets as { Name: string }[]).map((s) => [s.Name, 'x'.repeat(32)]))
    const resolved = Object.fromEntries(
      Object.entries({ ...env, ...secrets }).map(([k, v]) => [k, typeof v === 'string' ? v : 'db.example.internal'])
    )
    const config = loadConfig({ ...resolved, REDIS_URL: 'rediss://:token@redis.example.internal:6379' })
    assert.equal(config.NODE_ENV, 'production')
    assert.equal(config.TRUST_PROXY, '1')
    assert.equal(config.DB_SSL, true)
    assert.equal(config.DB_SSL_CA_FILE, infra.settings.RDS_CA_FILE)
    assert.equal(config.MIGRATE_ON_STARTUP, false)
    assert.equal(config.SEED_ON_STARTUP, false)
    assert.ok(
      app.StopTimeout * 1000 > config.SHUTDOWN_DRAIN_MS + config.SHUTDOWN_TIMEOUT_MS,
      'stopTimeout after the drain'
    )
    assert.ok(app.StopTimeout <= 120, 'Fargate allows 120 s at most')
    assert.ok(
      config.KEEP_ALIVE_TIMEOUT_MS > infra.settings.ALB_IDLE_TIMEOUT_SECONDS * 1000,
      'keep-alive above ALB idle'
    )
    assert.equal(config.SHUTDOWN_DRAIN_MS, infra.settings.DEREGISTRATION_DELAY_SECONDS * 1000)
    assert.equal(config.PORT, infra.settings.APP_PORT)
    assert.deepEqual(
      app.PortMappings.map((m: { ContainerPort: number }) => m.ContainerPort),
      [config.PORT]
    )

    // The init container fetches the CA bundle that DB_SSL_CA_FILE names.
    const prepare = containers.prepare
    assert.equal(prepare?.Essential, false)
    assert.equal(prepare?.User, '0')
    assert.ok(String(prepare?.Command?.at(-1)).includes(infra.settings.RDS_CA_FILE))
  }
)

test('secrets reach the tasks as ECS secrets, never as plain environment values', { skip }, async () => {
  const { resources } = await synth()
  const { containers } = taskDefinition(resources, 'catalog-api')
  const secretNames = (containers.api?.Secrets as { Name: string; ValueFrom: unknown }[]).map((s) => s.Name)
  for (const name of [
    'DB_PASSWORD',
    'REDIS_URL',
    'CURSOR_SECRET',
    'BOOTSTRAP_ADMIN_API_KEY',
    'SENTRY_DSN',
    'METRICS_TOKEN'
  ])
    assert.ok(secretNames.includes(name), `${name} is an ECS secret`)
  const sensitive = /PASSWORD|SECRET|TOKEN|API_KEY|DSN|REDIS_URL/
  for (const [, task] of ofType(resources, 'AWS::ECS::TaskDefinition')) {
    for (const c of task.Properties.ContainerDefinitions as Json[]) {
      for (const [name, value] of Object.entries(environmentOf(c))) {
        assert.doesNotMatch(name, sensitive, `${c.Name}: ${name} must be a secret`)
        assert.doesNotMatch(JSON.stringify(value), /resolve:secretsmanager|rediss?:\/\/[^@]*@/, `${c.Name}: ${name}`)
      }
    }
  }
})

test(
  'the Sentry DSN secret starts empty, and an empty SENTRY_DSN is a valid configuration with Sentry off',
  { skip },
  async () => {
    const { resources } = await synth()
    const [id, secret] = only(
      resources,
      'AWS::SecretsManager::Secret',
      (s) => s.Properties.Name === 'catalog/sentry-dsn'
    )
    const { dsn } = JSON.parse(secret.Properties.SecretString as string) as { dsn: string }
    assert.equal(dsn, '')
    const { containers } = taskDefinition(resources, 'catalog-api')
    const ref = (containers.api?.Secrets as { Name: string; ValueFrom: Json }[]).find((s) => s.Name === 'SENTRY_DSN')
    assert.ok(JSON.stringify(ref?.ValueFrom).includes(id) && JSON.stringify(ref?.ValueFrom).includes(':dsn::'))
    const config = loadConfig({
      NODE_ENV: 'production',
      DB_HOST: 'db.example.internal',
      DB_PASSWORD: 'x'.repeat(32),
      CURSOR_SECRET: 'x'.repeat(32),
      REDIS_URL: 'rediss://:token@redis.example.internal:6379',
      SENTRY_DSN: dsn
    })
    assert.equal(config.SENTRY_DSN, undefined)
  }
)

test(
  'migrations: a one-off task runs `npm run migrate` from the same image before the service updates',
  { skip },
  async () => {
    const { resources } = await synth()
    const api = taskDefinition(resources, 'catalog-api')
    const migrate = taskDefinition(resources, 'catalog-migrate')
    const container = migrate.containers.migrate
    assert.deepEqual(container?.Command, ['npm', 'run', 'migrate'])
    assert.deepEqual(container?.Image, api.containers.api?.Image)
    assert.equal(container?.ReadonlyRootFilesystem, true)
    const [runId, run] = only(resources, 'Custom::CatalogMigrations', () => true)
    assert.deepEqual(run.Properties.TaskDefinition, { Ref: migrate.id })
    const [, service] = only(resources, 'AWS::ECS::Service', () => true)
    assert.ok(service.DependsOn?.includes(runId), 'the service waits for the migrations')
  }
)

test('logs: one log group kept 30 days', { skip }, async () => {
  const { resources } = await synth()
  const [, group] = only(resources, 'AWS::Logs::LogGroup', (g) => g.Properties.LogGroupName === '/catalog/api')
  assert.equal(group.Properties.RetentionInDays, 30)
  const { containers } = taskDefinition(resources, 'catalog-api')
  assert.equal(containers.api?.LogConfiguration.LogDriver, 'awslogs')
})
