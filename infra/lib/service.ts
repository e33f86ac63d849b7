import {
  aws_ec2 as ec2,
  aws_ecr as ecr,
  aws_ecs as ecs,
  aws_logs as logs,
  aws_secretsmanager as secretsmanager,
  Duration,
  RemovalPolicy,
  SecretValue
} from 'aws-cdk-lib'
import { Construct } from 'constructs'
import type { Cache } from './cache.js'
import type { Database } from './database.js'
import type { Edge } from './edge.js'
import type { Network } from './network.js'
import {
  DB_NAME,
  DB_PORT,
  KEEP_ALIVE_TIMEOUT_MS,
  LOG_RETENTION_DAYS,
  MAX_TASKS,
  MIN_TASKS,
  RDS_CA_FILE,
  SCALE_CPU_PERCENT,
  SCALE_REQUESTS_PER_TARGET,
  SHUTDOWN_DRAIN_MS,
  SHUTDOWN_TIMEOUT_MS,
  STOP_TIMEOUT_SECONDS,
  TASK_CPU,
  TASK_MEMORY_MIB,
  APP_PORT
} from './settings.js'
import { addAppContainer, addMigrateContainer, APP_CONTAINER } from './task.js'

export interface ServiceProps {
  network: Network
  database: Database
  cache: Cache
  edge: Edge
  repository: ecr.IRepository
  imageTag: string
  domainName: string
  corsOrigin: string
}

/** A generated random string (letters and digits), kept in Secrets Manager under `name`. */
function generated(scope: Construct, id: string, name: string, description: string) {
  return new secretsmanager.Secret(scope, id, {
    secretName: name,
    description,
    generateSecretString: { passwordLength: 64, excludePunctuation: true }
  })
}

/**
 * The ECS cluster, the API's task definition and Fargate service (3–10 tasks behind both target groups, rolled
 * back by the circuit breaker when a deployment does not become healthy), the one-off migration task, the log
 * group and the application secrets.
 */
export class Service extends Construct {
  readonly cluster: ecs.Cluster
  readonly logGroup: logs.LogGroup
  readonly task: ecs.FargateTaskDefinition
  readonly migrationTask: ecs.FargateTaskDefinition
  readonly service: ecs.FargateService
  readonly appSecrets: secretsmanager.ISecret[]

  constructor(scope: Construct, id: string, props: ServiceProps) {
    super(scope, id)
    const { vpc, taskSg } = props.network
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED
    })
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: '/catalog/api',
      retention: LOG_RETENTION_DAYS as logs.RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN
    })

    const cursorSecret = generated(
      this,
      'CursorSecret',
      'catalog/cursor-secret',
      'CURSOR_SECRET: signs pagination cursors'
    )
    const adminKey = generated(
      this,
      'AdminKey',
      'catalog/bootstrap-admin-key',
      'BOOTSTRAP_ADMIN_API_KEY: first admin key'
    )
    const metricsToken = generated(this, 'MetricsToken', 'catalog/metrics-token', 'METRICS_TOKEN: bearer for /metrics')
    // Empty until the operator puts a DSN in it (docs/deploy.md); the app treats an empty value as unset.
    const sentryDsn = new secretsmanager.Secret(this, 'SentryDsn', {
      secretName: 'catalog/sentry-dsn',
      description: 'SENTRY_DSN (JSON field dsn; empty = Sentry off)',
      secretObjectValue: { dsn: SecretValue.unsafePlainText('') }
    })
    this.appSecrets = [cursorSecret, adminKey, metricsToken, sentryDsn]

    const dbSecret = props.database.primary.secret
    if (!dbSecret) throw new Error('the database has no generated secret')
    const databaseEnv = {
      NODE_ENV: 'production',
      DB_HOST: props.database.primary.dbInstanceEndpointAddress,
      DB_PORT: String(DB_PORT),
      DB_NAME,
      DB_SSL: 'true',
      DB_SSL_CA_FILE: RDS_CA_FILE,
      LOG_LEVEL: 'info'
    }
    const databaseSecrets = {
      DB_USER: ecs.Secret.fromSecretsManager(dbSecret, 'username'),
      DB_PASSWORD: ecs.Secret.fromSecretsManager(dbSecret, 'password')
    }
    const image = { repository: props.repository, tag: props.imageTag }

    this.task = new ecs.FargateTaskDefinition(this, 'Task', {
      family: 'catalog-api',
      cpu: TASK_CPU,
      memoryLimitMiB: TASK_MEMORY_MIB,
      runtimePlatform: {
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        cpuArchitecture: ecs.CpuArchitecture.X86_64
      }
    })
    addAppContainer(this.task, {
      image,
      logGroup: this.logGroup,
      stopTimeoutSeconds: STOP_TIMEOUT_SECONDS,
      environment: {
        ...databaseEnv,
        PORT: String(APP_PORT),
        DB_READ_REPLICA_HOST: props.database.replica.dbInstanceEndpointAddress,
        DB_READ_REPLICA_PORT: String(DB_PORT),
        MIGRATE_ON_STARTUP: 'false',
        SEED_ON_STARTUP: 'false',
        TRUST_PROXY: '1',
        SHUTDOWN_DRAIN_MS: String(SHUTDOWN_DRAIN_MS),
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS),
        RATE_LIMIT_FALLBACK_DIVISOR: String(MIN_TASKS),
        SWAGGER_HOST: props.domainName,
        CORS_ORIGIN: props.corsOrigin
      },
      secrets: {
        ...databaseSecrets,
        REDIS_URL: ecs.Secret.fromSecretsManager(props.cache.url),
        CURSOR_SECRET: ecs.Secret.fromSecretsManager(cursorSecret),
        BOOTSTRAP_ADMIN_API_KEY: ecs.Secret.fromSecretsManager(adminKey),
        METRICS_TOKEN: ecs.Secret.fromSecretsManager(metricsToken),
        SENTRY_DSN: ecs.Secret.fromSecretsManager(sentryDsn, 'dsn')
      }
    })

    this.migrationTask = new ecs.FargateTaskDefinition(this, 'MigrationTask', {
      family: 'catalog-migrate',
      cpu: 256,
      memoryLimitMiB: 512,
      runtimePlatform: {
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        cpuArchitecture: ecs.CpuArchitecture.X86_64
      }
    })
    addMigrateContainer(this.migrationTask, {
      image,
      logGroup: this.logGroup,
      environment: databaseEnv,
      secrets: databaseSecrets
    })

    this.service = new ecs.FargateService(this, 'Service', {
      serviceName: 'catalog-api',
      cluster: this.cluster,
      taskDefinition: this.task,
      desiredCount: MIN_TASKS,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      securityGroups: [taskSg],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      platformVersion: ecs.FargatePlatformVersion.LATEST,
      healthCheckGracePeriod: Duration.seconds(60),
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      enableECSManagedTags: true
    })
    const target = { containerName: APP_CONTAINER, containerPort: APP_PORT }
    props.edge.reads.addTarget(this.service.loadBalancerTarget(target))
    props.edge.writes.addTarget(this.service.loadBalancerTarget(target))

    const scaling = this.service.autoScaleTaskCount({ minCapacity: MIN_TASKS, maxCapacity: MAX_TASKS })
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: SCALE_CPU_PERCENT,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1)
    })
    scaling.scaleOnRequestCount('Requests', {
      targetGroup: props.edge.reads,
      requestsPerTarget: SCALE_REQUESTS_PER_TARGET,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1)
    })
  }
}
