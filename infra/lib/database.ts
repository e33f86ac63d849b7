import { aws_ec2 as ec2, aws_rds as rds, Duration, RemovalPolicy } from 'aws-cdk-lib'
import { Construct } from 'constructs'
import type { Network } from './network.js'
import { BACKUP_RETENTION_DAYS, DB_NAME, DB_PORT, DB_USER, SECRET_ROTATION_DAYS } from './settings.js'

export interface DatabaseProps {
  network: Network
  instanceType: ec2.InstanceType
  allocatedStorageGiB: number
}

/**
 * PostgreSQL 15 on RDS: a Multi-AZ primary (synchronous standby in another AZ, automatic failover), encrypted gp3
 * storage, 7 days of automated backups (point-in-time restore to any second in that window), deletion protection,
 * Performance Insights, TLS required by the server (rds.force_ssl), and one asynchronous read replica that the
 * app's reads use (DB_READ_REPLICA_HOST). The credentials are generated into Secrets Manager and rotated.
 */
export class Database extends Construct {
  readonly primary: rds.DatabaseInstance
  readonly replica: rds.DatabaseInstanceReadReplica
  readonly parameterGroup: rds.ParameterGroup

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id)
    const { vpc, dbSg, rotationSg, secretsEndpoint } = props.network
    const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_15 })
    this.parameterGroup = new rds.ParameterGroup(this, 'Parameters', {
      engine,
      description: 'Catalog PostgreSQL 15: TLS only, slow statements logged',
      parameters: {
        'rds.force_ssl': '1',
        log_min_duration_statement: '500',
        idle_in_transaction_session_timeout: '60000'
      }
    })
    const subnets = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }
    this.primary = new rds.DatabaseInstance(this, 'Primary', {
      engine,
      instanceType: props.instanceType,
      vpc,
      vpcSubnets: subnets,
      securityGroups: [dbSg],
      port: DB_PORT,
      databaseName: DB_NAME,
      credentials: rds.Credentials.fromGeneratedSecret(DB_USER, { secretName: 'catalog/db' }),
      parameterGroup: this.parameterGroup,
      multiAz: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage: props.allocatedStorageGiB,
      maxAllocatedStorage: props.allocatedStorageGiB * 4,
      storageEncrypted: true,
      backupRetention: Duration.days(BACKUP_RETENTION_DAYS),
      preferredBackupWindow: '03:00-03:30',
      preferredMaintenanceWindow: 'sun:04:00-sun:04:30',
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      enablePerformanceInsights: true,
      performanceInsightRetention: rds.PerformanceInsightRetention.DEFAULT,
      monitoringInterval: Duration.seconds(60),
      cloudwatchLogsExports: ['postgresql'],
      autoMinorVersionUpgrade: true,
      copyTagsToSnapshot: true
    })
    this.primary.addRotationSingleUser({
      automaticallyAfter: Duration.days(SECRET_ROTATION_DAYS),
      securityGroup: rotationSg,
      endpoint: secretsEndpoint,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }
    })

    this.replica = new rds.DatabaseInstanceReadReplica(this, 'Replica', {
      sourceDatabaseInstance: this.primary,
      instanceType: props.instanceType,
      vpc,
      vpcSubnets: subnets,
      securityGroups: [dbSg],
      port: DB_PORT,
      parameterGroup: this.parameterGroup,
      storageType: rds.StorageType.GP3,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.DESTROY,
      enablePerformanceInsights: true,
      monitoringInterval: Duration.seconds(60),
      cloudwatchLogsExports: ['postgresql'],
      autoMinorVersionUpgrade: true
    })
  }
}
