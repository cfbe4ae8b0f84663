/**
 * The V8 flags Tally is started with (`npm start`, the Dockerfile, the benchmarks' servers).
 *
 * --max-semi-space-size=2 (MiB): a young generation of 2 MiB semi-spaces instead of Node's
 * 16 MiB. Tally keeps a large old generation (every entity's window tiles) and ingest allocates
 * steadily, so each scavenge copies whatever survived since the last one; with 16 MiB
 * semi-spaces those pauses reached 10-20 ms and set the p99 of reads under write load. Smaller
 * semi-spaces mean more frequent, shorter scavenges: in the read-under-write benchmark the
 * server's event-loop delay p99 under load fell from 10-14 ms to 4-5 ms and the read p99 from
 * 13-15 ms to about 6 ms, for a maximum ingest rate within the run-to-run noise.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
