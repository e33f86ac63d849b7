import { aws_ecr as ecr, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib'
import type { Construct } from 'constructs'

/**
 * The image repository, in a stack of its own: it must exist (and hold an image) before the service stack can
 * start tasks from it. Tags are immutable, so a tag names one build forever and a rollback is a redeploy of an
 * older tag; every push is scanned.
 */
export class RegistryStack extends Stack {
  readonly repository: ecr.Repository

  constructor(scope: Construct, id: string, props: StackProps) {
    super(scope, id, props)
    this.repository = new ecr.Repository(this, 'Repository', {
      repositoryName: 'catalog-api',
      imageScanOnPush: true,
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      encryption: ecr.RepositoryEncryption.AES_256,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          description: 'Untagged layers of interrupted pushes',
          tagStatus: ecr.TagStatus.UNTAGGED,
          maxImageAge: Duration.days(7)
        },
        { description: 'Keep the last 50 images (rollback targets)', tagStatus: ecr.TagStatus.ANY, maxImageCount: 50 }
      ]
    })
  }
}
