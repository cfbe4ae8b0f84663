/**
 * Nesting depth of JSON text, measured before it is parsed. JSON.parse takes any depth, and a
 * 2 MB body of a million nested objects holds the event loop for half a second before the
 * router could refuse it as too deep; one pass over the characters (no allocation) finds the
 * first place the text nests too deep, so such a body, message or line is refused first.
 * Texts shorter than DEPTH_SCAN_MIN_CHARS are not scanned: parsing them costs less.
 */

/** Below this length a text is parsed at once: its nesting, however deep, parses in microseconds. */
export const DEPTH_SCAN_MIN_CHARS = 4096;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/**
 * The index of the first `{` or `[` that opens level `max + 1` (an outermost object or array
 * is level 1), or -1 when the text never nests deeper than `max`. Brackets inside strings do
 * not count. The text need not be valid JSON: JSON.parse judges that afterwards.
 */
export function firstTooDeep(text: string, max: number): number {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return i;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--;
  }
  return -1;
}

/** One element of a top-level JSON array: its text span, and whether it nests deeper than allowed. */
export interface ElementSpan {
  start: number;
  end: number;
  tooDeep: boolean;
}

/**
 * The elements of a text that is a JSON array, each with whether it nests deeper than `max`
 * (the element itself is level 1); undefined when the text is not an array. Used only for a
 * body that firstTooDeep() flagged, so its good events can still be parsed one by one.
 */
export function arrayElements(text: string, max: number): ElementSpan[] | undefined {
  const n = text.length;
  let i = 0;
  while (i < n && text.charCodeAt(i) <= 0x20) i++;
  if (text.charCodeAt(i) !== OPEN_ARRAY) return undefined;
  const out: ElementSpan[] = [];
  let depth = 1;
  let start = i + 1;
  let deep = false;
  let nonBlank = false;
  for (i++; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      nonBlank = true;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      nonBlank = true;
      if (++depth - 1 > max) deep = true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (--depth === 0) {
        if (nonBlank) out.push({ start, end: i, tooDeep: deep });
        return out;
      }
    } else if (c === COMMA && depth === 1) {
      out.push({ start, end: i, tooDeep: deep });
      start = i + 1;
      deep = false;
      nonBlank = false;
    } else if (c > 0x20) nonBlank = true;
  }
  return out;
}
