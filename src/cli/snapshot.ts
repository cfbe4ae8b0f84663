/** `tally snapshot inspect <file>`: what a snapshot holds, its offsets and checksums. */
import { inspectSnapshot, type SnapshotInspection } from '../durability/index.js';
import type { Command } from './command.js';
import { bytes, EXIT, plural } from './output.js';

export const snapshotCommand: Command = {
  name: 'snapshot',
  usage: 'tally snapshot inspect <file> [--json]',
  summary: 'inspect a snapshot file: contents, source offsets, checksums',
  help: `inspect <file>: reads every byte of a snapshot (TALLY_DATA_DIR/snapshots/*.tsnap) and
shows its header, what it was taken for (generation, reason, mode, pipeline hash), the
entities per store, the source offsets and event-time watermarks it reflects, and whether
each section's and the whole file's checksum hold. A bad file is reported, not thrown.
Exit status: 0 valid, 1 not valid (every problem listed), 2 wrong usage.`,
  options: { json: { description: 'print the inspection as JSON' } },
  async run({ positionals, options }, io) {
    const [sub, file, ...rest] = positionals;
    if (sub !== 'inspect' || !file || rest.length > 0) {
      io.err(`tally snapshot: ${sub && sub !== 'inspect' ? `unknown subcommand "${sub}"` : 'name one snapshot file'}\nusage: ${this.usage}\n`);
      return EXIT.usage;
    }
    const report = await inspectSnapshot(file);
    if (options.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
    else io.out(describeInspection(report));
    return report.valid ? EXIT.ok : EXIT.failed;
  },
};

/** The human-readable report. */
export function describeInspection(r: SnapshotInspection): string {
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`${label.padEnd(12)}${value}`);
  row('file', `${r.path} (${bytes(r.bytes)})`);
  row('status', r.valid ? 'valid' : `NOT VALID — ${plural(r.problems.length, 'problem')}`);
  if (r.header) row('format', `${r.header.magic} v${r.header.version}, written ${new Date(r.header.createdAt).toISOString()}`);
  if (r.meta) {
    const m = r.meta;
    row('generation', `${m.generation} (${m.reason}, ${m.mode} mode, state of ${new Date(m.createdAt).toISOString()})`);
    row('pipeline', `sha256 ${m.pipeline}`);
    row('ingest log', m.logSeq > 0 ? `reflects records up to #${m.logSeq}` : 'no record reflected');
  }
  row('checksum', r.checksum === 'ok' ? 'ok (whole file, CRC32)' : r.checksum === 'bad' ? 'BAD (whole file)' : 'missing (no footer: a torn or cut file)');
  if (r.problems.length > 0) {
    lines.push('', 'problems');
    for (const p of r.problems) lines.push(`  - ${p}`);
  }
  if (r.meta && Object.keys(r.meta.counts).length > 0) {
    lines.push('', 'contents');
    table(lines, Object.entries(r.meta.counts).map(([store, n]) => [store, n.toLocaleString('en')]));
  }
  if (r.offsets) {
    lines.push('', r.offsets.length === 0 ? 'source offsets: none (embedded mode, or nothing read from Kafka yet)' : 'source offsets (last message applied; a restart reads from the next one)');
    table(lines, [...r.offsets].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition).map((o) => [`${o.topic}[${o.partition}]`, o.offset]));
  }
  if (r.watermarks && r.watermarks.length > 0) {
    lines.push('', 'watermarks (newest event time per source partition; -1 = HTTP ingest)');
    table(lines, [...r.watermarks].sort((a, b) => a.source.localeCompare(b.source) || a.partition - b.partition).map((w) => [`${w.source}[${w.partition}]`, new Date(w.ts).toISOString()]));
  }
  if (r.sections.length > 0) {
    lines.push('', 'sections');
    table(lines, r.sections.map((s) => [`${s.tag}${s.name ? ` ${s.name}` : ''}`, bytes(s.bytes), plural(s.frames, 'frame'), `@${s.offset}`, s.checksum === 'ok' ? 'ok' : 'BAD']));
  }
  return `${lines.join('\n')}\n`;
}

function table(lines: string[], rows: string[][]): void {
  const widths = rows.reduce<number[]>((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
  for (const r of rows) lines.push(`  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}`);
}
