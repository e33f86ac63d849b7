import {
  aws_ec2 as ec2,
  aws_ecr as ecr,
  aws_s3 as s3,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps
} from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import { Alarms } from './alarms.js'
import { Cache } from './cache.js'
import { Database } from './database.js'
import { Edge } from './edge.js'
import { Migrations } from './migrations.js'
import { Network } from './network.js'
import { RotationRedeploy } from './rotation-redeploy.js'
import { Service } from './service.js'

export interface CatalogStackProps extends StackProps {
  repository: ecr.IRepository
  imageTag: string
  certificateArn: string
  domainName: string
  corsOrigin: string
  alarmEmail?: string
  maxAzs: number
  natGateways: number
  dbInstanceType: string
  dbStorageGiB: number
  cacheNodeType: string
}

/** Everything the running API needs: network, database, cache, load balancer and WAF, service, alarms. */
export class CatalogStack extends Stack {
  readonly network: Network
  readonly database: Database
  readonly cache: Cache
  readonly edge: Edge
  readonly service: Service
  readonly migrations: Migrations
  readonly alarms: Alarms
  readonly rotationRedeploy: RotationRedeploy
  readonly logBucket: s3.Bucket

  constructor(scope: Construct, id: string, props: CatalogStackProps) {
    super(scope, id, props)
    // ALB access logs and VPC flow logs. ALB log delivery supports SSE-S3 only (not KMS).
    this.logBucket = new s3.Bucket(this, 'LogBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN
    })
    this.network = new Network(this, 'Network', {
      maxAzs: props.maxAzs,
      natGateways: props.natGateways,
      logBucket: this.logBucket
    })
    this.database = new Database(this, 'Database', {
      network: this.network,
      instanceType: new ec2.InstanceType(props.dbInstanceType),
      allocatedStorageGiB: props.dbStorageGiB
    })
    this.cache = new Cache(this, 'Cache', { network: this.network, nodeType: props.cacheNodeType })
    this.edge = new Edge(this, 'Edge', {
      network: this.network,
      certificateArn: props.certificateArn,
      logBucket: this.logBucket
    })
    this.service = new Service(this, 'Api', {
      network: this.network,
      database: this.database,
      cache: this.cache,
      edge: this.edge,
      repository: props.repository,
      imageTag: props.imageTag,
      domainName: props.domainName,
      corsOrigin: props.corsOrigin
    })
    this.migrations = new Migrations(this, 'Migrations', {
      cluster: this.service.cluster,
      task: this.service.migrationTask,
      securityGroup: this.network.taskSg,
      subnets: this.network.vpc.privateSubnets
    })
    // The new tasks start only once the schema they expect is in place.
    this.service.service.node.addDependency(this.migrations.resource)
    const dbSecret = this.database.primary.secret
    if (!dbSecret) throw new Error('the database has no generated secret')
    this.rotationRedeploy = new RotationRedeploy(this, 'RotationRedeploy', {
      secret: dbSecret,
      service: this.service.service
    })
    this.alarms = new Alarms(this, 'Alarms', {
      edge: this.edge,
      service: this.service,
      database: this.database,
      alarmEmail: props.alarmEmail
    })

    const out = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description })
    out('LoadBalancerDns', this.edge.alb.loadBalancerDnsName, 'Point the domain (CNAME or alias) here')
    out('ClusterName', this.service.cluster.clusterName, 'ECS cluster')
    out('ServiceName', this.service.service.serviceName, 'ECS service')
    out('MigrationTaskFamily', this.service.migrationTask.family, 'Task definition family of the migration task')
    out('TaskSubnets', this.network.vpc.privateSubnets.map((s) => s.subnetId).join(','), 'Subnets for run-task')
    out('TaskSecurityGroup', this.network.taskSg.securityGroupId, 'Security group for run-task')
    out('LogGroup', this.service.logGroup.logGroupName, 'Application logs')
    out('DatabaseEndpoint', this.database.primary.dbInstanceEndpointAddress, 'PostgreSQL primary')
    out('ReplicaEndpoint', this.database.replica.dbInstanceEndpointAddress, 'PostgreSQL read replica')
    out('AlarmTopic', this.alarms.topic.topicArn, 'SNS topic of every alarm')
  }
}
