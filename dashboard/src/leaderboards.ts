// Live leaderboards: one `leaderboardChanged` subscription per leaderboard. Rows are kept by
// member and updated in place; a row that moves slides to its new place (FLIP: measure, move,
// animate from the old position), a score that changes flashes.
import type { TallyApi } from './api.js';
import { fmtNumber, h } from './dom.js';

interface Entry {
  rank: number;
  member: string;
  score: number;
}

const TOP = 10;
const SUBSCRIPTION = /* GraphQL */ `
  subscription DashboardLeaderboard($name: String!, $top: Int!) {
    leaderboardChanged(name: $name, top: $top) { rank member score }
  }
`;

export class LeaderboardCard {
  readonly root: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly rows = new Map<string, { li: HTMLLIElement; rank: HTMLElement; score: HTMLElement; bar: HTMLElement; value: number }>();
  private readonly updated: HTMLElement;

  constructor(
    api: TallyApi,
    readonly name: string,
    subtitle: string,
    onError: (message: string) => void,
  ) {
    this.list = h('ol', { class: 'board-rows' });
    this.updated = h('span', { class: 'muted small' }, 'waiting for scores');
    this.root = h(
      'article',
      { class: 'card board', 'data-testid': `leaderboard-${name}` },
      h('header', {}, h('h3', {}, name), h('span', { class: 'tag' }, subtitle)),
      this.list,
      h('footer', {}, this.updated),
    );
    api.subscribe<{ leaderboardChanged: Entry[] }>(SUBSCRIPTION, { name, top: TOP }, (d) => this.render(d.leaderboardChanged), (m) => onError(`leaderboard ${name}: ${m}`));
  }

  private render(entries: Entry[]): void {
    // First: where each row is now.
    const before = new Map<string, number>();
    for (const [member, row] of this.rows) before.set(member, row.li.getBoundingClientRect().top);
    const max = Math.max(...entries.map((e) => Math.abs(e.score)), 1);
    const keep = new Set(entries.map((e) => e.member));
    for (const [member, row] of this.rows) {
      if (!keep.has(member)) {
        row.li.remove();
        this.rows.delete(member);
      }
    }
    const ordered: HTMLLIElement[] = [];
    for (const e of entries) {
      let row = this.rows.get(e.member);
      if (!row) {
        const rank = h('span', { class: 'rank' });
        const score = h('span', { class: 'score' });
        const bar = h('span', { class: 'bar' });
        const li = h('li', { 'data-member': e.member, class: 'enter' }, bar, rank, h('span', { class: 'member', title: e.member }, e.member), score);
        row = { li, rank, score, bar, value: e.score };
        this.rows.set(e.member, row);
      } else if (row.value !== e.score) {
        flash(row.li, e.score > row.value ? 'up' : 'down');
      }
      row.value = e.score;
      row.rank.textContent = String(e.rank);
      row.score.textContent = fmtNumber(e.score);
      row.li.dataset.rank = String(e.rank);
      row.bar.style.width = `${Math.max(2, (Math.abs(e.score) / max) * 100)}%`;
      ordered.push(row.li);
    }
    // Move the nodes into rank order (append moves an existing node).
    this.list.append(...ordered);
    // Invert and play: rows that moved start from where they were and slide into place.
    for (const li of ordered) {
      const was = before.get(li.dataset.member!);
      if (was === undefined) continue;
      const dy = was - li.getBoundingClientRect().top;
      if (Math.abs(dy) < 1) continue;
      li.animate([{ transform: `translateY(${dy}px)` }, { transform: 'translateY(0)' }], { duration: 350, easing: 'cubic-bezier(.2,.8,.2,1)' });
    }
    this.root.dataset.rows = String(entries.length);
    this.updated.textContent = entries.length ? `updated ${new Date().toLocaleTimeString('en-GB', { hour12: false })}` : 'no scores in this period yet';
  }
}

function flash(el: HTMLElement, kind: 'up' | 'down'): void {
  el.classList.remove('up', 'down', 'enter');
  void el.offsetWidth;
  el.classList.add(kind);
}
