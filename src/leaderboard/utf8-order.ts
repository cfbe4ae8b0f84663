/*
 * Byte order of UTF-8 strings without encoding them.
 *
 * Redis orders sorted-set members that share a score with memcmp() on the raw bytes
 * (sdscmp in sds.c), and clients send members as UTF-8, so that is the order Tally must
 * reproduce. UTF-8 byte order is Unicode code point order, which differs from the
 * UTF-16 code unit order of JavaScript's `<` in one case only: a surrogate (a code point
 * above U+FFFF) against a BMP code unit in U+E000..U+FFFF. compareUtf8 walks code units
 * and remaps just that case, so ASCII and most BMP text costs one charCodeAt per char.
 *
 * Members are expected to be well-formed UTF-16. A lone surrogate (which a UTF-8 encoder
 * would replace with U+FFFD) is ordered as if it were the start of a supplementary code
 * point; such a member cannot round-trip through Redis anyway.
 */

/** Compares two strings by their UTF-8 bytes (memcmp, then length): <0, 0 or >0. */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // Below U+D800 on either side, code unit order is code point order already.
      if (x >= 0xd800 && y >= 0xd800) {
        // Surrogates (D800..DFFF) stand for code points above every BMP unit: lift them
        // above E000..FFFF, which move down by the same width to keep their own order.
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}
