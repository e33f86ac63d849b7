import {
  aws_elasticache as elasticache,
  aws_secretsmanager as secretsmanager,
  Fn,
  SecretValue,
  Stack
} from 'aws-cdk-lib'
import { Construct } from 'constructs'
import type { Network } from './network.js'
import { REDIS_PORT } from './settings.js'

export interface CacheProps {
  network: Network
  nodeType: string
}

/** The replication group's id; its two nodes are <id>-001 and <id>-002 (the alarms name them). */
export const REDIS_GROUP_ID = 'catalog-redis'
export const REDIS_NODE_IDS = [`${REDIS_GROUP_ID}-001`, `${REDIS_GROUP_ID}-002`]

/**
 * ElastiCache Redis: a primary and a replica in two AZs with automatic failover, TLS in transit, encryption at rest,
 * an AUTH token generated into Secrets Manager, and `maxmemory-policy volatile-lru` so that only entries with a TTL
 * (the cache) are evicted, never the tag versions and rate-limit state the app keeps without one. The app gets the
 * whole `rediss://` URL, token included, as one secret (REDIS_URL).
 */
export class Cache extends Construct {
  readonly group: elasticache.CfnReplicationGroup
  readonly authToken: secretsmanager.Secret
  readonly url: secretsmanager.Secret
  readonly parameterGroup: elasticache.CfnParameterGroup

  constructor(scope: Construct, id: string, props: CacheProps) {
    super(scope, id)
    const { vpc, redisSg } = props.network
    // Letters and digits only: ElastiCache refuses some punctuation and the token also goes into a URL.
    this.authToken = new secretsmanager.Secret(this, 'AuthToken', {
      secretName: 'catalog/redis-auth',
      description: 'AUTH token of the catalog Redis replication group',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'token',
        excludePunctuation: true,
        passwordLength: 64
      }
    })
    const token = this.authToken.secretValueFromJson('token').unsafeUnwrap()

    const subnets = new elasticache.CfnSubnetGroup(this, 'Subnets', {
      description: 'Catalog Redis: isolated subnets',
      subnetIds: vpc.isolatedSubnets.map((s) => s.subnetId)
    })
    this.parameterGroup = new elasticache.CfnParameterGroup(this, 'Parameters', {
      cacheParameterGroupFamily: 'redis7',
      description: 'Catalog Redis: evict only keys with a TTL',
      properties: { 'maxmemory-policy': 'volatile-lru' }
    })
    const azs = Stack.of(this).availabilityZones.slice(0, 2)
    this.group = new elasticache.CfnReplicationGroup(this, 'Group', {
      replicationGroupId: REDIS_GROUP_ID,
      replicationGroupDescription: 'Catalog API cache, rate limits and cache tag versions',
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: props.nodeType,
      numCacheClusters: 2,
      preferredCacheClusterAZs: azs,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      authToken: token,
      port: REDIS_PORT,
      cacheParameterGroupName: this.parameterGroup.ref,
      cacheSubnetGroupName: subnets.ref,
      securityGroupIds: [redisSg.securityGroupId],
      snapshotRetentionLimit: 1,
      snapshotWindow: '03:30-04:30',
      preferredMaintenanceWindow: 'sun:05:00-sun:06:00',
      autoMinorVersionUpgrade: true
    })

    // A dynamic reference, resolved by CloudFormation at deploy time: the token never appears in the template.
    this.url = new secretsmanager.Secret(this, 'Url', {
      secretName: 'catalog/redis-url',
      description: 'REDIS_URL of the catalog API (rediss:// with the AUTH token)',
      secretStringValue: SecretValue.unsafePlainText(
        Fn.join('', ['rediss://:', token, '@', this.group.attrPrimaryEndPointAddress, `:${REDIS_PORT}`])
      )
    })
  }
}
