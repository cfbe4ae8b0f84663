// The cluster as the instance serving the page sees it: the `cluster` query (the same report as
// GET /cluster) read every 2 s. A single instance shows itself and its partitions; a cluster
// lists its members (the one answering marked), their URLs and partitions, the epoch, and this
// instance's lag per partition. `renderCluster` is pure (a report in, an element out); the
// panel only polls and swaps it in, and says so plainly when a read fails.
import type { TallyApi } from './api.js';
import { fmtNumber, fmtTime, h } from './dom.js';

export interface ClusterMember {
  instanceId: string;
  url: string;
  self: boolean;
  active: number[];
  /** Warm copies of other members' partitions; absent or empty until standby replicas exist. */
  standby?: number[] | null;
  /** Partitions being restored before they become active; absent or empty when none are. */
  restoring?: number[] | null;
}

export interface ClusterReport {
  instanceId: string;
  clustered: boolean;
  epoch: number;
  partitionCount: number;
  members: ClusterMember[];
  lag: { partition: number; lag: number }[];
}

export const CLUSTER_QUERY = /* GraphQL */ `
  query DashboardCluster {
    cluster {
      instanceId clustered epoch partitionCount
      members { instanceId url self active standby restoring }
      lag { partition lag }
    }
  }
`;

export const CLUSTER_POLL_MS = 2_000;

/** [0, 3, 6] -> "0, 3, 6"; [] -> "none". */
export function fmtPartitions(ps: readonly number[]): string {
  return ps.length === 0 ? 'none' : [...ps].sort((a, b) => a - b).join(', ');
}

/** A member's URL as a link to its own dashboard when it is http(s), else as text. */
function urlOf(url: string): HTMLElement {
  if (url === '') return h('span', { class: 'muted' }, 'no advertised URL');
  if (/^https?:\/\//i.test(url)) return h('a', { class: 'member-url', href: `${url.replace(/\/+$/, '')}/`, target: '_blank', rel: 'noopener' }, url);
  return h('span', { class: 'member-url' }, url);
}

/** One labelled partition list ("active 0, 3"), with the exact numbers in data-partitions. */
function partitionList(kind: 'active' | 'standby' | 'restoring', ps: readonly number[], label: string = kind): HTMLElement {
  return h('span', { class: `parts parts-${kind}`, 'data-kind': kind, 'data-partitions': [...ps].sort((a, b) => a - b).join(',') }, h('span', { class: 'muted' }, `${label} `), fmtPartitions(ps));
}

function lagList(report: ClusterReport): HTMLElement {
  const total = report.lag.reduce((n, l) => n + l.lag, 0);
  return h(
    'div',
    { class: 'cluster-lag', 'data-testid': 'cluster-lag', 'data-total': total },
    h('span', { class: 'muted' }, `lag here${report.lag.length > 1 ? ` (total ${fmtNumber(total)})` : ''}: `),
    report.lag.length === 0
      ? h('span', { class: 'muted' }, 'no active partition')
      : h('span', { class: 'lag-parts' }, ...report.lag.map((l) => h('span', { class: `lag-part${l.lag > 0 ? ' behind' : ''}`, 'data-partition': l.partition, 'data-lag': l.lag }, `p${l.partition} `, h('b', {}, fmtNumber(l.lag))))),
  );
}

/** The panel's content for one report: a detached element, every text set as text. */
export function renderCluster(report: ClusterReport): HTMLElement {
  const self = report.members.find((m) => m.self) ?? report.members.find((m) => m.instanceId === report.instanceId);
  const root = h('div', { class: 'cluster', 'data-clustered': String(report.clustered), 'data-epoch': report.epoch, 'data-instance': report.instanceId });
  if (!report.clustered) {
    root.append(
      h('p', { class: 'cluster-summary' }, h('span', { class: 'tag', 'data-testid': 'cluster-mode' }, 'single instance'), ' ', h('b', { class: 'entity', 'data-testid': 'cluster-instance' }, report.instanceId)),
      h('p', { class: 'cluster-line' }, partitionList('active', self?.active ?? [], 'partitions')),
      lagList(report),
    );
    return root;
  }
  root.append(
    h(
      'p',
      { class: 'cluster-summary' },
      h('span', { class: 'tag', 'data-testid': 'cluster-mode' }, `${report.members.length} member${report.members.length === 1 ? '' : 's'}`),
      ' ',
      h('span', { class: 'tag', 'data-testid': 'cluster-epoch' }, `epoch ${report.epoch}`),
      ' ',
      h('span', { class: 'tag' }, `${report.partitionCount} partition${report.partitionCount === 1 ? '' : 's'}`),
      ' ',
      h('span', { class: 'muted' }, 'on '),
      h('b', { class: 'entity', 'data-testid': 'cluster-instance' }, report.instanceId),
    ),
    h(
      'ul',
      { class: 'cluster-members', 'data-testid': 'cluster-members' },
      ...report.members.map((m) => {
        const standby = m.standby ?? [];
        const restoring = m.restoring ?? [];
        return h(
          'li',
          { class: `cluster-member${m.self ? ' self' : ''}`, 'data-instance': m.instanceId, 'data-self': m.self ? 'true' : undefined },
          h('div', { class: 'member-head' }, h('b', { class: 'entity member-id' }, m.instanceId), m.self ? h('span', { class: 'tag you' }, 'this instance') : null, urlOf(m.url)),
          h('div', { class: 'member-parts' }, partitionList('active', m.active), standby.length > 0 ? partitionList('standby', standby) : null, restoring.length > 0 ? partitionList('restoring', restoring) : null),
        );
      }),
    ),
    lagList(report),
  );
  return root;
}

/** Polls the `cluster` query into `root` (a panel with an h2). */
export class ClusterPanel {
  private readonly body: HTMLElement;
  private readonly status: HTMLElement;
  private lastGood: number | undefined;
  private timer: number | undefined;

  constructor(
    private readonly api: TallyApi,
    private readonly root: HTMLElement,
  ) {
    this.status = h('p', { class: 'cluster-status muted small', role: 'status', 'data-testid': 'cluster-status' }, 'reading…');
    this.body = h('div', { 'data-testid': 'cluster' });
    root.append(this.status, this.body);
  }

  start(): void {
    const tick = async () => {
      try {
        const { cluster } = await this.api.query<{ cluster: ClusterReport }>(CLUSTER_QUERY);
        this.show(cluster);
      } catch (err) {
        this.fail((err as Error).message);
      }
      this.timer = window.setTimeout(tick, CLUSTER_POLL_MS);
    };
    void tick();
  }

  stop(): void {
    window.clearTimeout(this.timer);
  }

  private show(report: ClusterReport): void {
    this.lastGood = Date.now();
    this.body.replaceChildren(renderCluster(report));
    this.body.classList.remove('stale');
    this.root.dataset.state = 'ok';
    this.status.className = 'cluster-status muted small';
    this.status.textContent = `as of ${fmtTime(this.lastGood)}`;
  }

  /** Keeps the last report on screen, dimmed, under a message saying it is not current. */
  private fail(message: string): void {
    this.root.dataset.state = 'error';
    this.body.classList.toggle('stale', this.lastGood !== undefined);
    this.status.className = 'cluster-status error small';
    this.status.textContent = `Cluster not updated: ${message}${this.lastGood === undefined ? '' : ` (shown: as of ${fmtTime(this.lastGood)})`}`;
  }
}
