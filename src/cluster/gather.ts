/*
 * Scatter-gather, the asker's side: a whole-set query (leaderboards, geo) asked of any member
 * is put to every member of the map at once (this one answers locally); each answers for the
 * partitions it serves (partials.ts) and merge.ts turns the answers into the one-instance
 * answer. The answers must cover every partition exactly once: a member that does not answer
 * (gone, timed out), partitions being restored or handed over, or two members standing for
 * one partition (the map changed under the query: the map is read again and the query asked
 * once more) make the query fail with PARTITIONS_UNAVAILABLE naming the partitions; never a
 * partial answer presented as whole.
 */
import { unavailable } from './forwarding.js';
import type { ClusterMember } from './assignment.js';
import type { ClusterState } from './cluster-state.js';
import { NotServingError, type PartialAnswer, type PartialAnswers, type PartialQuestion, type PartialValues } from './partials.js';
import type { PeerBus } from './peer-bus.js';

/** How long a member may take to answer its part. */
const GATHER_TIMEOUT_MS = 5_000;

/** The body a member answers a gather with: its part, or why it has none. */
export type PartialReply = ({ ok: true } & PartialAnswer & { restoring: number[] }) | { ok: false; error: string; partitions: number[] };

type Outcome = { member: ClusterMember; reply: PartialReply };

export interface GatherCounter {
  inc(labels: { outcome: 'ok' | 'retried' | 'failed' }): void;
}

export class Gather {
  constructor(
    private readonly state: ClusterState,
    private readonly secret: string | undefined,
    private readonly local: PartialAnswers,
    private readonly counter?: GatherCounter,
    /** The asking side of the peer bus (a member's; none on a single instance). */
    private readonly bus?: PeerBus,
  ) {}

  /** True in a cluster: whole-set queries are gathered; otherwise answered locally. */
  get enabled(): boolean {
    return this.state.enabled && this.secret !== undefined;
  }

  /** This member's reply to a gather (also what a peer gets over the bus, peer-requests.ts). */
  reply(q: PartialQuestion): PartialReply {
    try {
      const restoring = [...this.state.restoring().keys()].sort((a, b) => a - b);
      return { ok: true, ...this.local.answer(q), restoring };
    } catch (err) {
      if (err instanceof NotServingError) return { ok: false, error: err.message, partitions: err.partitions };
      throw err;
    }
  }

  /** Every member's value for `q`, covering each partition once; throws PARTITIONS_UNAVAILABLE otherwise. */
  async all<K extends PartialQuestion['kind']>(q: Extract<PartialQuestion, { kind: K }>, authorization: string | undefined): Promise<PartialValues[K][]> {
    for (let attempt = 0; ; attempt++) {
      const map = this.state.map;
      const outcomes = await Promise.all(map.members.map((m) => this.ask(m, q, authorization)));
      const count = new Array<number>(map.partitionCount).fill(0);
      const why: string[] = [];
      const failed = new Set<number>();
      const restoring = new Set<number>();
      for (const { member, reply } of outcomes) {
        if (!reply.ok) {
          for (const p of reply.partitions) failed.add(p);
          why.push(reply.error);
          continue;
        }
        for (const p of reply.partitions) if (p < count.length) count[p]++;
        for (const p of reply.restoring) restoring.add(p);
        if (reply.restoring.length > 0) why.push(`${member.instanceId} is restoring partitions ${reply.restoring.join(', ')} from Kafka`);
      }
      const missing = count.flatMap((c, p) => (c === 0 && !failed.has(p) ? [p] : []));
      const twice = count.flatMap((c, p) => (c > 1 ? [p] : []));
      if (failed.size === 0 && missing.length === 0 && twice.length === 0) {
        this.counter?.inc({ outcome: 'ok' });
        return outcomes.map((o) => (o.reply as PartialAnswer<PartialValues[K]>).value);
      }
      // The map moved under the query (a rebalance): read it again and ask once more.
      const moved = twice.length > 0 || missing.some((p) => !restoring.has(p));
      if (attempt === 0 && failed.size === 0 && moved) {
        this.counter?.inc({ outcome: 'retried' });
        await this.state.refresh();
        continue;
      }
      this.counter?.inc({ outcome: 'failed' });
      if (twice.length > 0) why.push(`partitions ${twice.join(', ')} were answered by two members (a rebalance under way)`);
      if (missing.some((p) => !restoring.has(p))) why.push(`no member answered for partitions ${missing.filter((p) => !restoring.has(p)).join(', ')} (a rebalance under way)`);
      const partitions = [...new Set([...failed, ...missing, ...twice])].sort((a, b) => a - b);
      throw unavailable(partitions, `${q.kind} needs every partition: ${why.join('; ')}`);
    }
  }

  private async ask(member: ClusterMember, q: PartialQuestion, authorization: string | undefined): Promise<Outcome> {
    if (member.instanceId === this.state.self.instanceId) return { member, reply: this.reply(q) };
    const fail = (why: string): Outcome => ({ member, reply: { ok: false, error: `${member.instanceId} (${member.url}) ${why}`, partitions: [...member.partitions] } });
    try {
      if (this.bus === undefined) return fail('cannot be asked: no peer bus');
      const reply = await this.bus.request<PartialReply>(member.url, 'partial', authorization, q, GATHER_TIMEOUT_MS);
      // Refused before it was answered (the key, a malformed question): the member's partitions are not answered.
      if (!reply.ok && reply.partitions.length === 0) return fail(`refused it: ${reply.error}`);
      return { member, reply };
    } catch (err) {
      return fail(`did not answer: ${String(err)}`);
    }
  }
}
