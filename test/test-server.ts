// The server as production runs it, plus the fault-injection routes (see test-routes.ts): startServer's entry
// point when a test asks for them.
import { serve } from '../src/serve.js'
import { testRoutes } from './test-routes.js'

serve(testRoutes)
