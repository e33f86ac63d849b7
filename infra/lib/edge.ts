import {
  aws_ec2 as ec2,
  aws_elasticloadbalancingv2 as elbv2,
  aws_s3 as s3,
  aws_wafv2 as wafv2,
  Duration
} from 'aws-cdk-lib'
import { Construct } from 'constructs'
import type { Network } from './network.js'
import {
  ALB_IDLE_TIMEOUT_SECONDS,
  APP_PORT,
  DEREGISTRATION_DELAY_SECONDS,
  WAF_RATE_LIMIT_PER_5_MIN
} from './settings.js'

export interface EdgeProps {
  network: Network
  certificateArn: string
  logBucket: s3.IBucket
}

/**
 * The internet-facing ALB: HTTPS only (HTTP answers a redirect), TLS 1.2/1.3 with forward secrecy, access logs to
 * S3, WAF in front. Reads (GET, HEAD) and writes go to two target groups over the same tasks, so that their
 * latencies can be watched against their own targets.
 */
export class Edge extends Construct {
  readonly alb: elbv2.ApplicationLoadBalancer
  readonly https: elbv2.ApplicationListener
  readonly reads: elbv2.ApplicationTargetGroup
  readonly writes: elbv2.ApplicationTargetGroup
  readonly webAcl: wafv2.CfnWebACL

  constructor(scope: Construct, id: string, props: EdgeProps) {
    super(scope, id)
    const { vpc, albSg } = props.network
    this.alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: true,
      securityGroup: albSg,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      idleTimeout: Duration.seconds(ALB_IDLE_TIMEOUT_SECONDS),
      dropInvalidHeaderFields: true,
      deletionProtection: true,
      http2Enabled: true
    })
    this.alb.logAccessLogs(props.logBucket, 'alb')

    const targetGroup = (name: string) =>
      new elbv2.ApplicationTargetGroup(this, name, {
        vpc,
        port: APP_PORT,
        protocol: elbv2.ApplicationProtocol.HTTP,
        targetType: elbv2.TargetType.IP,
        deregistrationDelay: Duration.seconds(DEREGISTRATION_DELAY_SECONDS),
        healthCheck: {
          path: '/health',
          healthyHttpCodes: '200',
          interval: Duration.seconds(15),
          timeout: Duration.seconds(5),
          healthyThresholdCount: 2,
          unhealthyThresholdCount: 3
        }
      })
    this.reads = targetGroup('Reads')
    this.writes = targetGroup('Writes')

    this.https = this.alb.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
      sslPolicy: elbv2.SslPolicy.TLS13_RES,
      open: false,
      defaultTargetGroups: [this.writes]
    })
    this.https.addTargetGroups('ReadsByMethod', {
      priority: 10,
      conditions: [elbv2.ListenerCondition.httpRequestMethods(['GET', 'HEAD'])],
      targetGroups: [this.reads]
    })
    this.alb.addListener('Http', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      open: false,
      defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true })
    })

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('catalog-web-acl'),
      rules: [
        {
          name: 'RateLimitPerIp',
          priority: 0,
          action: { block: {} },
          statement: { rateBasedStatement: { limit: WAF_RATE_LIMIT_PER_5_MIN, aggregateKeyType: 'IP' } },
          visibilityConfig: visibility('catalog-rate-limit')
        },
        managedRuleGroup('AWSManagedRulesCommonRuleSet', 1, [
          // The rule set blocks bodies over 8 KB; the API enforces its own body limit (BODY_LIMIT_BYTES, 413).
          { name: 'SizeRestrictions_BODY', actionToUse: { count: {} } }
        ]),
        managedRuleGroup('AWSManagedRulesKnownBadInputsRuleSet', 2)
      ]
    })
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.alb.loadBalancerArn,
      webAclArn: this.webAcl.attrArn
    })
  }
}

function visibility(metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty {
  return { cloudWatchMetricsEnabled: true, metricName, sampledRequestsEnabled: true }
}

function managedRuleGroup(
  name: string,
  priority: number,
  ruleActionOverrides?: wafv2.CfnWebACL.RuleActionOverrideProperty[]
): wafv2.CfnWebACL.RuleProperty {
  return {
    name,
    priority,
    overrideAction: { none: {} },
    statement: { managedRuleGroupStatement: { vendorName: 'AWS', name, ruleActionOverrides } },
    visibilityConfig: visibility(name)
  }
}
