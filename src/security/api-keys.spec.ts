import { allows, ApiKeys } from './api-keys.js';

const READER = 'reader-0123456789abcdef';
const WRITER = 'writer-0123456789abcdef';

describe(ApiKeys.name, () => {
  const sut = new ApiKeys(
    new Map([
      [READER, 'reader'],
      [WRITER, 'writer'],
    ]),
  );

  it('names the principal of a known key by its position, with its role', () => {
    expect(sut.authenticate(`Bearer ${READER}`)).toEqual({ ok: true, principal: { id: 'key-1', role: 'reader' } });
    expect(sut.authenticate(`bearer   ${WRITER} `)).toEqual({ ok: true, principal: { id: 'key-2', role: 'writer' } });
  });

  it('tells a missing or malformed header from an unknown key, and echoes neither', () => {
    for (const header of [undefined, '', 'Bearer', `Basic ${READER}`, READER, 42, `Bearer ${READER} extra`]) {
      const r = sut.authenticate(header);
      expect(r).toMatchObject({ ok: false, reason: 'missing-key' });
    }
    for (const key of [READER.slice(0, -1), `${READER}x`, READER.toUpperCase(), 'x'.repeat(10_000)]) {
      const r = sut.authenticate(`Bearer ${key}`);
      expect(r).toMatchObject({ ok: false, reason: 'unknown-key' });
      expect(JSON.stringify(r)).not.toContain(key);
    }
  });

  it('runs open without keys: every client is an admin, identified by its address', () => {
    const open = new ApiKeys(undefined);
    expect(open.open).toBe(true);
    expect(open.authenticate(undefined, '10.0.0.7')).toEqual({ ok: true, principal: { id: 'open:10.0.0.7', role: 'admin' } });
  });

  it('orders roles reader < writer < admin', () => {
    expect([allows('reader', 'reader'), allows('reader', 'writer'), allows('writer', 'reader'), allows('writer', 'admin'), allows('admin', 'writer')]).toEqual([true, false, true, false, true]);
  });
});
