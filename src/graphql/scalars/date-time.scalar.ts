import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { isRepresentableTime, parseIsoTime } from '../../pipeline/time.js';

function parse(value: unknown): Date {
  const ms = typeof value === 'string' ? parseIsoTime(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new GraphQLError(`DateTime must be ISO-8601 text such as "2026-11-25T13:00:00Z" (UTC unless it names a zone), got ${JSON.stringify(value) ?? String(value)}`);
  return new Date(ms);
}

/**
 * `DateTime`: ISO-8601 text, read by src/pipeline/time.ts as everything else in Tally is, so a
 * time without a zone is UTC on every server (the stock scalar used `new Date(text)`, which
 * reads it in the server's local time). Written by the Date's `toISOString()` (UTC, milliseconds).
 */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'A date-time in ISO-8601, such as 2026-11-25T13:00:00Z; a time without a zone is UTC. Answers are always UTC with milliseconds.',
  parseValue: parse,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be ISO-8601 text such as "2026-11-25T13:00:00Z"');
    return parse(ast.value);
  },
  serialize(value) {
    if (!(value instanceof Date) || !isRepresentableTime(value.getTime())) throw new GraphQLError(`DateTime cannot represent ${String(value)}`);
    // The Date's own toISOString: a row's event times share one Date that keeps its text
    // (feature-row.model.ts), so each distinct time is formatted once per row, not per value.
    return value.toISOString();
  },
});
