// What the repository's test suite (test/infra/) needs from this package, resolved from infra/node_modules.
export { Template, Match } from 'aws-cdk-lib/assertions'
export { Validations } from 'aws-cdk-lib'
export { AwsSolutionsChecks } from 'cdk-nag'
export { buildApp, cdkJsonContext } from './app.js'
export { CACHED_READ_METRIC, THRESHOLDS } from './alarms.js'
export { REDIS_NODE_IDS } from './cache.js'
export * as settings from './settings.js'
