// The production entry point (node dist/src/server.js): see serve.ts.
import './lib/v8-tuning.js' // first: V8's flags before anything allocates
import { serve } from './serve.js'

serve()
