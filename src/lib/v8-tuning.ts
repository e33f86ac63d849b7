// Imported first by the server's entry points (server.ts, and instrument.ts, its preload), for its effect: V8's
// flags for this process, set before the first request allocates anything. The bulk import command does without it
// (it measured slower there; see docs/architecture.md, "Garbage collection").
import { setFlagsFromString } from 'node:v8'

// Allocation-site pretenuring off. V8 allocates straight in the old generation at every site whose objects
// survived a young collection; under load it picks sites whose objects live exactly one request (a page's rows),
// so every page's garbage then waits for a full collection, and the young strings it points to are copied and
// promoted at every scavenge. On the uncached first page (36 KB): scavenges of 7–10 ms that promoted 2.3 MB each;
// with pretenuring off, under 1.5 ms, promoting nothing.
// Node refuses this option in NODE_OPTIONS; set at run time, it rules every later collection.
setFlagsFromString('--no-allocation-site-pretenuring')
