import { Validations } from 'aws-cdk-lib'
import type { IConstruct } from 'constructs'
import type { CatalogStack } from './catalog-stack.js'

/**
 * Every AwsSolutions finding this application accepts, each on the narrowest construct it applies to and with the
 * reason. Anything not listed here fails `cdk synth` (bin/catalog.ts) and the infra test.
 */
export function acknowledgeFindings(stack: CatalogStack) {
  const ack = (scope: IConstruct, id: string, reason: string) => Validations.of(scope).acknowledge({ id, reason })
  const arnOf = (scope: IConstruct) => `<${stack.getLogicalId(scope.node.defaultChild as never)}.Arn>:*`

  ack(
    stack.network.albSg,
    'AwsSolutions-EC23',
    'The public ALB must accept 443 (and 80, which only redirects to HTTPS) from anywhere; WAF filters the traffic.'
  )
  ack(
    stack.logBucket,
    'AwsSolutions-S1',
    'This bucket is the log destination itself (ALB access logs, VPC flow logs); logging it would log the logging.'
  )
  for (const db of [stack.database.primary, stack.database.replica]) {
    ack(
      db,
      'AwsSolutions-RDS11',
      'Port 5432: only the task and rotation security groups can reach the isolated subnets; a custom port adds nothing.'
    )
  }
  ack(
    stack.database.replica,
    'AwsSolutions-RDS3',
    'The read replica only serves reads that fall back to the Multi-AZ primary when it is down; a standby would double its cost.'
  )
  ack(
    stack.database.replica,
    'AwsSolutions-RDS2',
    'A replica of an encrypted instance is encrypted with the same key; CloudFormation refuses StorageEncrypted beside SourceDBInstanceIdentifier.'
  )
  ack(
    stack.cache.group,
    'AwsSolutions-AEC5',
    'Port 6379: only the task security group can reach the isolated subnets; the group also requires TLS and an AUTH token.'
  )
  ack(
    stack.cache.authToken,
    'AwsSolutions-SMG4',
    'Rotating the Redis AUTH token needs a coordinated ROTATE/SET on the replication group and a redeploy; done by hand (docs/deploy.md).'
  )
  ack(
    stack.cache.url,
    'AwsSolutions-SMG4',
    'Derived from the AUTH token and the endpoint; it changes when the token does.'
  )
  const [cursor, adminKey, metricsToken, sentry] = stack.service.appSecrets
  const secretReasons: [IConstruct | undefined, string][] = [
    [
      cursor,
      'Rotating CURSOR_SECRET invalidates every pagination cursor in flight; it is rotated by hand with a deploy.'
    ],
    [adminKey, 'The bootstrap admin key is registered once at start; real keys are managed with `npm run apikey`.'],
    [metricsToken, 'The scraper holds the same token; rotating it is a coordinated change (new value, then redeploy).'],
    [sentry, 'The Sentry DSN is issued by Sentry, not generated here; there is nothing to rotate.']
  ]
  for (const [secret, reason] of secretReasons) if (secret) ack(secret, 'AwsSolutions-SMG4', reason)

  for (const task of [stack.service.task, stack.service.migrationTask]) {
    ack(
      task,
      'AwsSolutions-ECS2',
      'Only non-secret settings (hosts, ports, timeouts) are plain environment values; every secret is an ECS secret.'
    )
    ack(
      task,
      'AwsSolutions-IAM5[Resource::*]',
      'ecr:GetAuthorizationToken has no resource-level permissions; CDK adds it with Resource "*" to the execution role.'
    )
  }
  for (const db of [stack.database.primary, stack.database.replica]) {
    ack(
      db,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]',
      'The AWS-managed Enhanced Monitoring role policy is the documented one; it only writes to the RDSOSMetrics log group.'
    )
  }

  const lambdaBasic =
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'
  const basicReason = 'AWSLambdaBasicExecutionRole only lets the function write its own logs.'
  ack(stack.migrations, lambdaBasic, basicReason)
  ack(stack.rotationRedeploy, lambdaBasic, basicReason)
  const provider = stack.migrations.node.findChild('Provider')
  const [start, wait] = stack.migrations.functions
  if (start && wait) {
    for (const fn of [start, wait]) {
      ack(
        provider,
        `AwsSolutions-IAM5[Resource::${arnOf(fn)}]`,
        'CDK\'s provider framework invokes its handlers by ARN and any version (":*").'
      )
    }
    ack(
      wait,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:${stack.region}:${stack.account}:task/<${stack.getLogicalId(stack.service.cluster.node.defaultChild as never)}>/*]`,
      'Task ARNs are known only once run-task returns; DescribeTasks is limited to tasks of this cluster.'
    )
  }
  for (const child of ['framework-isComplete', 'framework-onTimeout']) {
    ack(
      provider,
      `AwsSolutions-IAM5[Resource::${arnOf(provider.node.findChild(child))}]`,
      "CDK's provider framework: the waiter state machine invokes its own functions by ARN and any version."
    )
  }
  ack(
    provider,
    'AwsSolutions-IAM5[Resource::*]',
    'Step Functions log delivery (logs:CreateLogDelivery and friends) has no resource-level permissions.'
  )
  ack(
    provider,
    'AwsSolutions-SF2',
    "The provider framework's waiter only polls the migration task every 15 s; its log group (level ALL) is enough."
  )
}
