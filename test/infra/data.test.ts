import assert from 'node:assert/strict'
import { test } from 'node:test'
import { only, skip, synth, type Resource } from './synth.js'

const isReplica = (r: Resource) => r.Properties.SourceDBInstanceIdentifier !== undefined

test(
  'PostgreSQL 15: Multi-AZ, gp3, encrypted, 7-day backups, deletion protection, Performance Insights, TLS forced',
  { skip },
  async () => {
    const { resources } = await synth()
    const [, primary] = only(resources, 'AWS::RDS::DBInstance', (r) => !isReplica(r))
    const p = primary.Properties
    assert.equal(p.Engine, 'postgres')
    assert.match(p.EngineVersion, /^15(\.|$)/)
    assert.equal(p.MultiAZ, true)
    assert.equal(p.StorageType, 'gp3')
    assert.equal(p.StorageEncrypted, true)
    assert.equal(p.BackupRetentionPeriod, 7)
    assert.equal(p.DeletionProtection, true)
    assert.equal(p.EnablePerformanceInsights, true)
    assert.equal(p.Port, '5432')
    assert.equal(primary.DeletionPolicy, 'Snapshot')
    const groupId = p.DBParameterGroupName.Ref as string
    const group = resources[groupId]
    assert.equal(group?.Type, 'AWS::RDS::DBParameterGroup')
    assert.equal(group?.Properties.Family, 'postgres15')
    assert.equal(group?.Properties.Parameters['rds.force_ssl'], '1')
  }
)

test('a read replica of the primary, with the same TLS-only parameters', { skip }, async () => {
  const { resources } = await synth()
  const [primaryId, primary] = only(resources, 'AWS::RDS::DBInstance', (r) => !isReplica(r))
  const [, replica] = only(resources, 'AWS::RDS::DBInstance', isReplica)
  assert.equal(JSON.stringify(replica.Properties.SourceDBInstanceIdentifier).includes(primaryId), true)
  assert.deepEqual(replica.Properties.DBParameterGroupName, primary.Properties.DBParameterGroupName)
  assert.equal(replica.Properties.DeletionProtection, true)
  assert.equal(replica.Properties.EnablePerformanceInsights, true)
})

test('database credentials are generated in Secrets Manager and rotated', { skip }, async () => {
  const { resources } = await synth()
  const [secretId, secret] = only(resources, 'AWS::SecretsManager::Secret', (s) => s.Properties.Name === 'catalog/db')
  assert.ok(secret.Properties.GenerateSecretString, 'generated')
  const [, primary] = only(resources, 'AWS::RDS::DBInstance', (r) => !isReplica(r))
  assert.match(JSON.stringify(primary.Properties.MasterUserPassword), new RegExp(`resolve:secretsmanager`))
  const [, attachment] = only(resources, 'AWS::SecretsManager::SecretTargetAttachment', () => true)
  assert.deepEqual(attachment.Properties.SecretId, { Ref: secretId })
  const [, schedule] = only(resources, 'AWS::SecretsManager::RotationSchedule', () => true)
  assert.equal(JSON.stringify(schedule.Properties.SecretId).includes('SecretAttachment'), true)
  assert.equal(schedule.Properties.RotationRules.ScheduleExpression, 'rate(30 days)')
})

test(
  'Redis: 2 nodes in 2 AZs, automatic failover, TLS, AUTH token from Secrets Manager, volatile-lru',
  { skip },
  async () => {
    const { resources } = await synth()
    const [, group] = only(resources, 'AWS::ElastiCache::ReplicationGroup', () => true)
    const p = group.Properties
    assert.equal(p.NumCacheClusters, 2)
    assert.equal(new Set(p.PreferredCacheClusterAZs).size, 2)
    assert.equal(p.AutomaticFailoverEnabled, true)
    assert.equal(p.MultiAZEnabled, true)
    assert.equal(p.TransitEncryptionEnabled, true)
    assert.equal(p.AtRestEncryptionEnabled, true)
    const [tokenId] = only(resources, 'AWS::SecretsManager::Secret', (s) => s.Properties.Name === 'catalog/redis-auth')
    const token = JSON.stringify(p.AuthToken)
    assert.match(token, /\{\{resolve:secretsmanager:/)
    assert.ok(token.includes(tokenId), 'the token comes from catalog/redis-auth')
    const params = resources[p.CacheParameterGroupName.Ref as string]
    assert.equal(params?.Properties.Properties['maxmemory-policy'], 'volatile-lru')
    // The app's REDIS_URL: rediss:// (TLS), the token by reference, never in clear.
    const [, url] = only(resources, 'AWS::SecretsManager::Secret', (s) => s.Properties.Name === 'catalog/redis-url')
    const value = JSON.stringify(url.Properties.SecretString)
    assert.match(value, /rediss:\/\/:/)
    assert.match(value, /\{\{resolve:secretsmanager:/)
  }
)

test('ECR: scan on push, immutable tags, lifecycle rules', { skip }, async () => {
  const { registry } = await synth()
  const repos = registry.findResources('AWS::ECR::Repository')
  const [repo] = Object.values(repos) as Resource[]
  assert.deepEqual(repo?.Properties.ImageScanningConfiguration, { ScanOnPush: true })
  assert.equal(repo?.Properties.ImageTagMutability, 'IMMUTABLE')
  const rules = JSON.parse(repo?.Properties.LifecyclePolicy.LifecyclePolicyText as string).rules as unknown[]
  assert.equal(rules.length, 2)
})
