/**
 * Spine and training-set files, by extension: `.csv` (a header line, RFC 4180 quoting),
 * `.ndjson` (one JSON object a line) and `.parquet`. A spine has the columns `entity` and
 * `timestamp` (ISO-8601, UTC unless it names a zone, or epoch milliseconds), then any label
 * columns, kept as they are. The training set has the spine's columns, then one column per
 * asked feature, named as asked (`card_txn_count:1h`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { parquetWriteFile } from 'hyparquet-writer';
import type { ColumnSource } from 'hyparquet-writer';
import { InputError } from '../input-error.js';
import { formatTime, isRepresentableTime, parseIsoTime } from '../pipeline/time.js';
import type { ColumnKind, SpineRow } from './training-set.js';

export type FileFormat = 'csv' | 'ndjson' | 'parquet';

/** The format a path names by its extension; throws InputError for another. */
export function formatOf(path: string, what: string): FileFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.ndjson' || ext === '.jsonl') return 'ndjson';
  if (ext === '.parquet') return 'parquet';
  throw new InputError(`${what} "${path}": the extension ${ext === '' ? '(none)' : `"${ext}"`} names no format; use .csv, .ndjson or .parquet`);
}

export interface Spine {
  /** Label columns in file order (entity and timestamp excluded). */
  labels: string[];
  rows: SpineRow[];
}

/** Reads a spine; throws InputError naming the file, the row and the value for every problem (up to 20). */
export async function readSpine(path: string): Promise<Spine> {
  const format = formatOf(path, 'spine');
  let records: Record<string, unknown>[];
  let columns: string[];
  let firstLine = 1;
  if (format === 'csv') {
    const text = readFileSync(path, 'utf8');
    try {
      records = parse(text, { columns: true, skip_empty_lines: true, bom: true }) as Record<string, unknown>[];
    } catch (err) {
      throw new InputError(`spine ${path}: ${(err as Error).message}`);
    }
    columns = text.length === 0 ? [] : (parse(text, { to_line: 1, bom: true }) as string[][])[0] ?? [];
    firstLine = 2;
  } else if (format === 'ndjson') {
    records = [];
    const seen = new Set<string>();
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        throw new InputError(`spine ${path}:${i + 1}: not JSON (${(err as Error).message})`);
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InputError(`spine ${path}:${i + 1}: ${line.slice(0, 60)} is not a JSON object`);
      records.push(value as Record<string, unknown>);
      for (const k of Object.keys(value)) seen.add(k);
    });
    columns = [...seen];
  } else {
    const file = await asyncBufferFromFile(path);
    records = (await parquetReadObjects({ file })) as Record<string, unknown>[];
    columns = records.length > 0 ? Object.keys(records[0]) : [];
  }
  const missing = ['entity', 'timestamp'].filter((c) => !columns.includes(c));
  if (missing.length > 0) throw new InputError(`spine ${path}: no ${missing.map((c) => `"${c}"`).join(' or ')} column (columns: ${columns.join(', ') || 'none'}); a spine needs entity and timestamp, then any labels`);
  const labels = columns.filter((c) => c !== 'entity' && c !== 'timestamp');
  const problems: string[] = [];
  const rows: SpineRow[] = [];
  records.forEach((rec, i) => {
    const where = format === 'parquet' ? `${path} row ${i + 1}` : `${path}:${format === 'csv' ? firstLine + i : i + 1}`;
    const entity = rec.entity;
    const ts = timeOf(rec.timestamp);
    if (typeof entity !== 'string' && typeof entity !== 'number') problems.push(`${where}: entity ${JSON.stringify(entity) ?? 'undefined'} is not a key`);
    else if (String(entity) === '') problems.push(`${where}: entity is empty`);
    if (Number.isNaN(ts)) problems.push(`${where}: timestamp ${JSON.stringify(rec.timestamp instanceof Date ? String(rec.timestamp) : rec.timestamp) ?? 'undefined'} is not an ISO-8601 time or epoch milliseconds`);
    const row: Record<string, unknown> = {};
    for (const l of labels) row[l] = rec[l] ?? null;
    rows.push({ entity: String(entity), timestamp: ts, labels: row });
  });
  if (problems.length > 0) {
    const shown = problems.slice(0, 20);
    throw new InputError(`spine ${path}: ${problems.length} bad row${problems.length > 1 ? 's' : ''}:\n  ${shown.join('\n  ')}${problems.length > shown.length ? `\n  ... and ${problems.length - shown.length} more` : ''}`);
  }
  return { labels, rows };
}

function timeOf(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return isRepresentableTime(v) ? v : Number.NaN;
  if (typeof v !== 'string') return Number.NaN;
  if (/^-?\d+$/.test(v.trim())) {
    const ms = Number(v.trim());
    return isRepresentableTime(ms) ? ms : Number.NaN;
  }
  return parseIsoTime(v);
}

export interface TrainingColumns {
  spine: Spine;
  names: readonly string[];
  kinds: readonly ColumnKind[];
  /** Per spine row, the feature values in the order of `names`. */
  values: unknown[][];
}

/** Writes the training set in the format of `path`'s extension. */
export function writeTrainingSet(path: string, t: TrainingColumns): void {
  const format = formatOf(path, 'output');
  const { spine, names, values } = t;
  if (format === 'csv') {
    const header = ['entity', 'timestamp', ...spine.labels, ...names];
    const rows = spine.rows.map((r, i) => [r.entity, formatTime(r.timestamp), ...spine.labels.map((l) => csvCell(r.labels[l])), ...values[i].map(csvCell)]);
    writeFileSync(path, stringify([header, ...rows]));
  } else if (format === 'ndjson') {
    const lines = spine.rows.map((r, i) => {
      const o: Record<string, unknown> = { entity: r.entity, timestamp: formatTime(r.timestamp) };
      for (const l of spine.labels) o[l] = r.labels[l];
      names.forEach((n, j) => (o[n] = values[i][j]));
      return JSON.stringify(o);
    });
    writeFileSync(path, lines.length > 0 ? `${lines.join('\n')}\n` : '');
  } else {
    const columnData: ColumnSource[] = [
      { name: 'entity', data: spine.rows.map((r) => r.entity), type: 'STRING', nullable: false },
      { name: 'timestamp', data: spine.rows.map((r) => new Date(r.timestamp)), type: 'TIMESTAMP', nullable: false },
      ...spine.labels.map((l) => labelColumn(l, spine.rows.map((r) => r.labels[l]))),
      ...names.map((n, j) => featureColumn(n, t.kinds[j], values.map((v) => v[j]))),
    ];
    parquetWriteFile({ filename: path, columnData, createdBy: 'tally export' });
  }
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

/** A label column typed by what it holds: numbers (CSV text of numbers too) as DOUBLE, booleans, else text. */
function labelColumn(name: string, data: unknown[]): ColumnSource {
  const present = data.filter((v) => v !== null && v !== undefined && v !== '');
  if (present.length > 0 && present.every((v) => typeof v === 'boolean')) return { name, data: data.map((v) => (v === '' ? null : v)), type: 'BOOLEAN' };
  if (present.length > 0 && present.every((v) => typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))))) {
    return { name, data: data.map((v) => (v === null || v === undefined || v === '' ? null : Number(v))), type: 'DOUBLE' };
  }
  // An empty CSV cell is a missing value, as pandas and DuckDB read CSV.
  return { name, data: data.map((v) => (v === null || v === undefined || v === '' ? null : typeof v === 'string' ? v : JSON.stringify(v))), type: 'STRING' };
}

function featureColumn(name: string, kind: ColumnKind, data: unknown[]): ColumnSource {
  if (kind === 'double') return { name, data: data.map((v) => (typeof v === 'number' ? v : null)), type: 'DOUBLE' };
  if (kind === 'string') return { name, data: data.map((v) => (typeof v === 'string' ? v : null)), type: 'STRING' };
  if (kind === 'boolean') return { name, data: data.map((v) => (typeof v === 'boolean' ? v : null)), type: 'BOOLEAN' };
  // On-demand values and number lists: numbers when every value is one, else JSON text.
  if (data.every((v) => v === null || typeof v === 'number')) return { name, data, type: 'DOUBLE' };
  return { name, data: data.map((v) => (v === null ? null : JSON.stringify(v))), type: 'JSON' };
}
