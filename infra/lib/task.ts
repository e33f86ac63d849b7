import { aws_ecr as ecr, aws_ecs as ecs, aws_logs as logs, Duration, Size } from 'aws-cdk-lib'
import { APP_PORT, RDS_CA_FILE, RDS_CA_URL, TMP_DIR } from './settings.js'

export const APP_CONTAINER = 'api'
export const MIGRATE_CONTAINER = 'migrate'
export const PREPARE_CONTAINER = 'prepare'
const TMP_VOLUME = 'tmp'

export interface ImageRef {
  repository: ecr.IRepository
  tag: string
}

/**
 * Runs as root before the app, once per task: Fargate creates the /tmp volume as root:root 0755, which the image's
 * non-root user could not write, so it becomes 1777 (like a normal /tmp); then the RDS CA bundle is fetched over
 * verified HTTPS and checked to be PEM. The file stays root-owned in a sticky directory: the app can read it, not
 * replace it.
 */
const PREPARE_SCRIPT = [
  "const fs = require('node:fs')",
  `fs.chmodSync('${TMP_DIR}', 0o1777)`,
  `fetch('${RDS_CA_URL}')`,
  "  .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.text() })",
  "  .then((pem) => { if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('not a PEM bundle');",
  `    fs.writeFileSync('${RDS_CA_FILE}', pem, { mode: 0o644 }); console.log('RDS CA bundle ready') })`,
  '  .catch((err) => { console.error(String(err)); process.exit(1) })'
].join('\n')

export interface TaskContainersProps {
  image: ImageRef
  logGroup: logs.ILogGroup
  environment: Record<string, string>
  secrets: Record<string, ecs.Secret>
}

/** Adds the /tmp volume and the root-run preparation container every task of this service needs first. */
export function addPrepareContainer(
  task: ecs.FargateTaskDefinition,
  props: TaskContainersProps
): ecs.ContainerDefinition {
  task.addVolume({ name: TMP_VOLUME })
  const prepare = task.addContainer(PREPARE_CONTAINER, {
    image: ecs.ContainerImage.fromEcrRepository(props.image.repository, props.image.tag),
    essential: false,
    user: '0',
    entryPoint: ['node'],
    command: ['-e', PREPARE_SCRIPT],
    readonlyRootFilesystem: true,
    memoryReservationMiB: 64,
    logging: ecs.LogDrivers.awsLogs({ logGroup: props.logGroup, streamPrefix: PREPARE_CONTAINER })
  })
  prepare.addMountPoints({ sourceVolume: TMP_VOLUME, containerPath: TMP_DIR, readOnly: false })
  return prepare
}

/** The API container: read-only root, /tmp from the volume, secrets from Secrets Manager, a liveness check. */
export function addAppContainer(
  task: ecs.FargateTaskDefinition,
  props: TaskContainersProps & { stopTimeoutSeconds: number }
) {
  const prepare = addPrepareContainer(task, props)
  const app = task.addContainer(APP_CONTAINER, {
    image: ecs.ContainerImage.fromEcrRepository(props.image.repository, props.image.tag),
    essential: true,
    readonlyRootFilesystem: true,
    portMappings: [{ containerPort: APP_PORT, protocol: ecs.Protocol.TCP, name: 'http' }],
    environment: props.environment,
    secrets: props.secrets,
    stopTimeout: Duration.seconds(props.stopTimeoutSeconds),
    healthCheck: {
      command: [
        'CMD',
        'node',
        '-e',
        `fetch('http://127.0.0.1:${APP_PORT}/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`
      ],
      interval: Duration.seconds(15),
      timeout: Duration.seconds(5),
      retries: 3,
      startPeriod: Duration.seconds(30)
    },
    logging: ecs.LogDrivers.awsLogs({
      logGroup: props.logGroup,
      streamPrefix: APP_CONTAINER,
      // A slow log endpoint must never block the event loop; a full buffer drops lines instead.
      mode: ecs.AwsLogDriverMode.NON_BLOCKING,
      maxBufferSize: Size.mebibytes(16)
    })
  })
  app.addMountPoints({ sourceVolume: TMP_VOLUME, containerPath: TMP_DIR, readOnly: false })
  app.addContainerDependencies({ container: prepare, condition: ecs.ContainerDependencyCondition.SUCCESS })
  return app
}

/** The one-off migration container: the same image and database settings, `npm run migrate`, then it exits. */
export function addMigrateContainer(task: ecs.FargateTaskDefinition, props: TaskContainersProps) {
  const prepare = addPrepareContainer(task, props)
  const migrate = task.addContainer(MIGRATE_CONTAINER, {
    image: ecs.ContainerImage.fromEcrRepository(props.image.repository, props.image.tag),
    essential: true,
    readonlyRootFilesystem: true,
    command: ['npm', 'run', 'migrate'],
    // npm writes its cache and logs under $HOME by default: on a read-only root they go to /tmp.
    environment: { ...props.environment, NPM_CONFIG_CACHE: `${TMP_DIR}/.npm`, NPM_CONFIG_UPDATE_NOTIFIER: 'false' },
    secrets: props.secrets,
    logging: ecs.LogDrivers.awsLogs({ logGroup: props.logGroup, streamPrefix: MIGRATE_CONTAINER })
  })
  migrate.addMountPoints({ sourceVolume: TMP_VOLUME, containerPath: TMP_DIR, readOnly: false })
  migrate.addContainerDependencies({ container: prepare, condition: ecs.ContainerDependencyCondition.SUCCESS })
  return migrate
}
