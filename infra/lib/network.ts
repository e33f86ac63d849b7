import { aws_ec2 as ec2, aws_s3 as s3 } from 'aws-cdk-lib'
import { Construct } from 'constructs'
import { APP_PORT, DB_PORT, REDIS_PORT } from './settings.js'

export interface NetworkProps {
  maxAzs: number
  natGateways: number
  logBucket: s3.IBucket
}

/**
 * Public subnets hold the ALB and the NAT gateway; tasks run in private subnets with egress; the database and Redis
 * sit in isolated subnets with no route out. Interface endpoints let tasks pull images, read secrets and ship logs
 * without the NAT. Each security group admits exactly one kind of peer: internet → ALB, ALB → tasks on the app
 * port, tasks → database and Redis on their ports.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc
  readonly albSg: ec2.SecurityGroup
  readonly taskSg: ec2.SecurityGroup
  readonly dbSg: ec2.SecurityGroup
  readonly redisSg: ec2.SecurityGroup
  readonly rotationSg: ec2.SecurityGroup
  readonly secretsEndpoint: ec2.InterfaceVpcEndpoint

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id)
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.40.0.0/16'),
      maxAzs: props.maxAzs,
      natGateways: props.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }
      ],
      flowLogs: {
        toS3: { destination: ec2.FlowLogDestination.toS3(props.logBucket, 'vpc-flow-logs/') }
      }
    })

    const sg = (name: string, description: string, allowAllOutbound: boolean) =>
      new ec2.SecurityGroup(this, name, { vpc: this.vpc, description, allowAllOutbound })
    this.albSg = sg('AlbSg', 'Catalog ALB: HTTPS and HTTP (redirect) from the internet', false)
    this.taskSg = sg('TaskSg', 'Catalog API tasks: the app port from the ALB only', false)
    this.dbSg = sg('DbSg', 'Catalog PostgreSQL: 5432 from the tasks and the rotation function only', false)
    this.redisSg = sg('RedisSg', 'Catalog Redis: 6379 from the tasks only', false)
    this.rotationSg = sg('RotationSg', 'Secret rotation function: reaches PostgreSQL and Secrets Manager', false)
    const endpointSg = sg(
      'EndpointSg',
      'VPC interface endpoints: HTTPS from the tasks and the rotation function',
      false
    )

    this.albSg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS from the internet')
    this.albSg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP from the internet, redirected to HTTPS')
    this.albSg.addEgressRule(this.taskSg, ec2.Port.tcp(APP_PORT), 'To the tasks')
    this.taskSg.addIngressRule(this.albSg, ec2.Port.tcp(APP_PORT), 'From the ALB')

    this.dbSg.addIngressRule(this.taskSg, ec2.Port.tcp(DB_PORT), 'From the tasks')
    this.taskSg.addEgressRule(this.dbSg, ec2.Port.tcp(DB_PORT), 'To PostgreSQL')
    // rotation function → PostgreSQL: added by the rotation itself (Database), on the instance's port.

    this.redisSg.addIngressRule(this.taskSg, ec2.Port.tcp(REDIS_PORT), 'From the tasks')
    this.taskSg.addEgressRule(this.redisSg, ec2.Port.tcp(REDIS_PORT), 'To Redis')

    // HTTPS out: the interface endpoints, S3 (gateway, prefix list) and, through the NAT, the RDS CA bundle and Sentry.
    this.taskSg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS: AWS endpoints, S3, Sentry, RDS CA bundle')
    this.rotationSg.addEgressRule(endpointSg, ec2.Port.tcp(443), 'To Secrets Manager')
    endpointSg.addIngressRule(this.taskSg, ec2.Port.tcp(443), 'From the tasks')
    endpointSg.addIngressRule(this.rotationSg, ec2.Port.tcp(443), 'From the rotation function')

    const endpointSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }
    const endpoint = (name: string, service: ec2.InterfaceVpcEndpointAwsService) =>
      this.vpc.addInterfaceEndpoint(name, {
        service,
        subnets: endpointSubnets,
        securityGroups: [endpointSg],
        open: false,
        privateDnsEnabled: true
      })
    endpoint('EcrApi', ec2.InterfaceVpcEndpointAwsService.ECR)
    endpoint('EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER)
    endpoint('Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS)
    this.secretsEndpoint = endpoint('SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER)
    // Image layers come from S3: a gateway endpoint costs nothing and keeps pulls off the NAT.
    this.vpc.addGatewayEndpoint('S3', {
      service: ec2.GatewayVpcEndpointAwsService.S3,
      subnets: [endpointSubnets, { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }]
    })
  }
}
