import {
  aws_ec2 as ec2,
  aws_ecs as ecs,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  CustomResource,
  Duration,
  Stack
} from 'aws-cdk-lib'
import { custom_resources as cr, aws_stepfunctions as sfn } from 'aws-cdk-lib'
import { Construct } from 'constructs'
import { MIGRATE_CONTAINER } from './task.js'

export interface MigrationsProps {
  cluster: ecs.ICluster
  task: ecs.FargateTaskDefinition
  securityGroup: ec2.ISecurityGroup
  subnets: ec2.ISubnet[]
}

// Starts the migration task. A new image tag means a new task definition revision, hence an update, hence a run.
const START = `
const { ECSClient, RunTaskCommand } = require('@aws-sdk/client-ecs')
const ecs = new ECSClient({})
exports.handler = async (event) => {
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId }
  const p = event.ResourceProperties
  const out = await ecs.send(new RunTaskCommand({
    cluster: p.Cluster, taskDefinition: p.TaskDefinition, launchType: 'FARGATE', count: 1, startedBy: 'catalog-deploy',
    networkConfiguration: { awsvpcConfiguration: { subnets: p.Subnets, securityGroups: p.SecurityGroups, assignPublicIp: 'DISABLED' } }
  }))
  const task = out.tasks && out.tasks[0]
  if (!task) throw new Error('the migration task did not start: ' + JSON.stringify(out.failures))
  console.log('migration task started', task.taskArn)
  return { PhysicalResourceId: task.taskArn }
}
`

// Polled until the task stops: complete when the migrate container exited 0, failed (and the deployment with it) otherwise.
const WAIT = `
const { ECSClient, DescribeTasksCommand } = require('@aws-sdk/client-ecs')
const ecs = new ECSClient({})
exports.handler = async (event) => {
  if (event.RequestType === 'Delete') return { IsComplete: true }
  const out = await ecs.send(new DescribeTasksCommand({ cluster: event.ResourceProperties.Cluster, tasks: [event.PhysicalResourceId] }))
  const task = out.tasks && out.tasks[0]
  if (!task) throw new Error('migration task not found: ' + event.PhysicalResourceId)
  if (task.lastStatus !== 'STOPPED') return { IsComplete: false }
  const container = (task.containers || []).find((c) => c.name === '${MIGRATE_CONTAINER}')
  if (container && container.exitCode === 0) return { IsComplete: true }
  throw new Error('migrations failed (exit code ' + (container && container.exitCode) + ', ' + task.stoppedReason +
    '); logs: stream prefix ${MIGRATE_CONTAINER} in the log group /catalog/api')
}
`

/**
 * Runs `npm run migrate` as a one-off Fargate task during each deployment and waits for it: the service is updated
 * only after the migrations succeeded; a failed migration fails the deployment, which CloudFormation rolls back.
 */
export class Migrations extends Construct {
  readonly resource: CustomResource
  readonly functions: lambda.Function[]

  constructor(scope: Construct, id: string, props: MigrationsProps) {
    super(scope, id)
    const stack = Stack.of(this)
    const fn = (name: string, code: string, timeout: Duration) =>
      new lambda.Function(this, name, {
        runtime: lambda.Runtime.NODEJS_24_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline(code),
        timeout,
        logGroup: new logs.LogGroup(this, `${name}Logs`, { retention: logs.RetentionDays.ONE_MONTH })
      })
    const start = fn('Start', START, Duration.minutes(1))
    const wait = fn('Wait', WAIT, Duration.seconds(30))

    start.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: [props.task.taskDefinitionArn],
        conditions: { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } }
      })
    )
    const roles = [props.task.taskRole, props.task.executionRole].filter((r): r is iam.IRole => r !== undefined)
    start.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['iam:PassRole'], resources: roles.map((r) => r.roleArn) })
    )
    wait.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ecs:DescribeTasks'],
        resources: [
          stack.formatArn({ service: 'ecs', resource: 'task', resourceName: `${props.cluster.clusterName}/*` })
        ]
      })
    )

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: start,
      isCompleteHandler: wait,
      queryInterval: Duration.seconds(15),
      totalTimeout: Duration.minutes(30),
      disableWaiterStateMachineLogging: false,
      waiterStateMachineLogOptions: {
        destination: new logs.LogGroup(this, 'WaiterLogs', { retention: logs.RetentionDays.ONE_MONTH }),
        level: sfn.LogLevel.ALL
      }
    })
    this.functions = [start, wait]
    this.resource = new CustomResource(this, 'Run', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::CatalogMigrations',
      properties: {
        Cluster: props.cluster.clusterArn,
        TaskDefinition: props.task.taskDefinitionArn,
        Subnets: props.subnets.map((s) => s.subnetId),
        SecurityGroups: [props.securityGroup.securityGroupId]
      }
    })
  }
}
