/**
 * API keys and roles (API.md "Authentication"). A request presents `Bearer <key>`; the key is
 * hashed and compared with the SHA-256 of every configured key with timingSafeEqual, without
 * stopping at a match, so neither the comparison nor the loop reveals how much of a key was
 * right or which key matched. Keys are never logged: a principal names its key by its
 * position in TALLY_API_KEYS (`key-2`), as settings errors do.
 *
 * With no keys configured Tally runs open: every client is an admin, identified by its address
 * (so rate limits still apply per client).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Role } from '../settings/settings.js';

export interface Principal {
  /** `key-<n>` (position in TALLY_API_KEYS), or `open:<address>` when running open. */
  readonly id: string;
  readonly role: Role;
}

export type Authentication = { ok: true; principal: Principal } | { ok: false; reason: 'missing-key' | 'unknown-key'; message: string };

const RANK: Record<Role, number> = { reader: 1, writer: 2, admin: 3 };

/** True when `have` may do what needs `need` (reader < writer < admin). */
export function allows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

export class ApiKeys {
  private readonly keys: { digest: Buffer; principal: Principal }[];

  constructor(keys: ReadonlyMap<string, Role> | undefined) {
    this.keys = [...(keys ?? new Map<string, Role>())].map(([key, role], i) => ({ digest: digest(key), principal: { id: `key-${i + 1}`, role } }));
  }

  /** True when no key is configured: every client is an admin. */
  get open(): boolean {
    return this.keys.length === 0;
  }

  /**
   * Authenticates an `Authorization` value (`Bearer <key>`) from a client at `address`.
   * Open mode accepts anything; otherwise a missing or malformed value is `missing-key` and a
   * key that matches none is `unknown-key`.
   */
  authenticate(authorization: unknown, address = 'unknown'): Authentication {
    if (this.open) return { ok: true, principal: { id: `open:${address}`, role: 'admin' } };
    const m = typeof authorization === 'string' ? BEARER.exec(authorization) : null;
    if (m === null) return { ok: false, reason: 'missing-key', message: 'an API key is required: Authorization: Bearer <key>' };
    const presented = digest(m[1]);
    let found: Principal | undefined;
    for (const k of this.keys) {
      if (timingSafeEqual(k.digest, presented)) found = k.principal;
    }
    return found ? { ok: true, principal: found } : { ok: false, reason: 'unknown-key', message: 'unknown API key' };
  }
}
