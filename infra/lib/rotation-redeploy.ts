import {
  aws_ecs as ecs,
  aws_events as events,
  aws_events_targets as targets,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  aws_secretsmanager as secretsmanager,
  Duration
} from 'aws-cdk-lib'
import { Construct } from 'constructs'

const REDEPLOY = `
const { ECSClient, UpdateServiceCommand } = require('@aws-sdk/client-ecs')
exports.handler = async () => {
  await new ECSClient({}).send(new UpdateServiceCommand({
    cluster: process.env.CLUSTER, service: process.env.SERVICE, forceNewDeployment: true }))
  console.log('new deployment started after the database secret rotated')
}
`

export interface RotationRedeployProps {
  secret: secretsmanager.ISecret
  service: ecs.FargateService
}

/**
 * The tasks read DB_PASSWORD once, at start. Open connections survive a password change, but new ones would fail:
 * when the database secret has rotated, a fresh deployment starts tasks with the new password (rolling, no
 * downtime), before the old tasks' pools need many new connections.
 */
export class RotationRedeploy extends Construct {
  constructor(scope: Construct, id: string, props: RotationRedeployProps) {
    super(scope, id)
    const fn = new lambda.Function(this, 'Redeploy', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline(REDEPLOY),
      timeout: Duration.seconds(30),
      environment: { CLUSTER: props.service.cluster.clusterName, SERVICE: props.service.serviceName },
      logGroup: new logs.LogGroup(this, 'RedeployLogs', { retention: logs.RetentionDays.ONE_MONTH })
    })
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ecs:UpdateService'], resources: [props.service.serviceArn] })
    )
    new events.Rule(this, 'OnRotation', {
      description: 'The catalog database secret rotated: redeploy the API with the new password',
      eventPattern: {
        source: ['aws.secretsmanager'],
        detailType: ['AWS Service Event via CloudTrail', 'AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['secretsmanager.amazonaws.com'],
          eventName: ['RotationSucceeded'],
          additionalEventData: { SecretId: [props.secret.secretArn] }
        }
      },
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 4 })]
    })
  }
}
