// Loaded before the server (node --import ./dist/src/instrument.js, or first by scripts/run.mjs) so that
// Sentry, when SENTRY_DSN is set, is initialised before the HTTP stack is imported.
import './lib/v8-tuning.js' // first: V8's flags before anything allocates
import 'dotenv/config'
import { loadConfig } from './config.js'
import { initSentry } from './lib/sentry.js'

try {
  await initSentry(loadConfig())
} catch {
  // A bad configuration is reported by the server itself, with the variable named.
}
