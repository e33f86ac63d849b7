// The production entry point (node dist/src/server.js): see serve.ts.
import { serve } from './serve.js'

serve()
