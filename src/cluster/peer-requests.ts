/*
 * The answering side of the peer bus (peer-bus.ts): a peer's request checked and answered. The
 * caller's API key travels with each request and is checked here as a query asked of this
 * member directly would be (a reader's at least; not charged to its rate again: the member the
 * client reached did that). Then a forwarded lookup is answered for the entities owned here
 * (forwarding.ts, lookups.ts), a gathered query's part for the partitions served here
 * (gather.ts, partials.ts).
 */
import { InputError } from '../input-error.js';
import { allows, type ApiKeys } from '../security/api-keys.js';
import type { Forwarding } from './forwarding.js';
import type { Gather } from './gather.js';
import type { PointLookups } from './lookups.js';
import { lookupQuestion } from './lookups.js';
import { partialQuestion } from './partials.js';
import type { PeerRequest } from './peer-bus.js';
import type { Logger } from '../ops/logger.js';

export interface PeerAnswering {
  keys: ApiKeys;
  forwarding: Forwarding;
  lookups: PointLookups;
  gather: Gather;
  /** Where a failure of this member's own is logged, with its stack. */
  log?: Pick<Logger, 'error'>;
}

/** The reply to one request off the bus (a LookupReply or a PartialReply by its op). */
export function answerPeer(request: PeerRequest, { keys, forwarding, lookups, gather, log }: PeerAnswering): object {
  const failed = (err: unknown) => {
    log?.error({ op: request.op, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'peer request failed');
    return `${String(err)} (logged by this member)`;
  };
  const auth = keys.authenticate(request.authorization, 'peer');
  const denied = !auth.ok
    ? { code: 'UNAUTHENTICATED', message: auth.message }
    : !allows(auth.principal.role, 'reader')
      ? { code: 'FORBIDDEN', message: `this key's role (${auth.principal.role}) may not read` }
      : undefined;
  switch (request.op) {
    case 'lookup':
      if (denied) return { ok: false, message: denied.message, extensions: { code: denied.code } };
      try {
        return forwarding.answerLookup(lookupQuestion(request.q), lookups);
      } catch (err) {
        // Bad input is the asker's; anything else failed here, and is said so (not as bad input).
        if (err instanceof InputError) return { ok: false, message: err.message, extensions: { code: 'BAD_USER_INPUT' } };
        return { ok: false, message: `the owner failed to answer: ${failed(err)}`, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
      }
    case 'partial':
      if (denied) return { ok: false, error: denied.message, partitions: [] };
      try {
        return gather.reply(partialQuestion(request.q));
      } catch (err) {
        return { ok: false, error: err instanceof InputError ? err.message : `failed to answer: ${failed(err)}`, partitions: [] };
      }
    default:
      return { ok: false, error: 'op must be lookup or partial', message: 'op must be lookup or partial', extensions: { code: 'BAD_USER_INPUT' }, partitions: [] };
  }
}
