// Imported first by every entry point that serves or streams (server.ts, instrument.ts, the import and export
// commands), for its effect: V8's flags for this process, set before the first request allocates anything.
import { setFlagsFromString } from 'node:v8'

// Allocation-site pretenuring off. V8 allocates straight in the old generation at every site whose objects
// survived a young collection; under load it picks sites whose objects live exactly one request (a page's rows),
// so every page's garbage then waits for a full collection, and the young strings it points to are copied and
// promoted at every scavenge. On the uncached first page (36 KB): scavenges of 7–10 ms that promoted 2.3 MB each,
// against under 1 ms promoting nothing without it (see docs/architecture.md, "Garbage collection").
// Node refuses this option in NODE_OPTIONS; set at run time, it rules every later collection.
setFlagsFromString('--no-allocation-site-pretenuring')
