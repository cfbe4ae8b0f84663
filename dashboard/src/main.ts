// Tally's dashboard: live leaderboards, feature charts, threshold alerts, a map of the geo
// indexes, ingest statistics and the cluster, all through the public GraphQL API (queries over HTTP,
// subscriptions over graphql-ws). What to show comes from the `pipeline` query.
import { Alerts } from './alerts.js';
import { loadApiKey, saveApiKey } from './api-key.js';
import { ApiError, TallyApi } from './api.js';
import { Charts } from './charts.js';
import { ClusterPanel } from './cluster.js';
import { byId, fmtDuration, h } from './dom.js';
import { LeaderboardCard } from './leaderboards.js';
import { GeoMap } from './map.js';
import { defaultAlerts, defaultCharts, PIPELINE_QUERY, type PipelineInfo } from './pipeline.js';
import { StatsPanel } from './stats.js';
import './style.css';

const errors = new Map<string, number>();

/** Shows a problem in the banner (the same message once, for a while). */
function showError(message: string): void {
  const banner = byId('banner');
  errors.set(message, Date.now());
  for (const [m, t] of errors) if (Date.now() - t > 15_000) errors.delete(m);
  banner.replaceChildren(...[...errors.keys()].slice(-3).map((m) => h('div', {}, m)));
  banner.hidden = false;
  window.clearTimeout(Number(banner.dataset.timer));
  banner.dataset.timer = String(window.setTimeout(() => ((banner.hidden = true), errors.clear()), 15_000));
}

function keyForm(api: TallyApi): void {
  const input = byId<HTMLInputElement>('api-key');
  input.value = loadApiKey();
  byId('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    saveApiKey(input.value.trim());
    location.reload();
  });
  byId('key-state').textContent = api.hasKey ? 'key set' : 'no key';
}

function connection(api: TallyApi): void {
  const el = byId('conn');
  api.onConnection((state, detail) => {
    el.dataset.state = state;
    el.querySelector('.label')!.textContent = state === 'connected' ? 'live' : state === 'connecting' ? 'connecting' : 'reconnecting';
    el.title = detail ?? '';
    if (state === 'closed' && detail) showError(`subscriptions: ${detail}`);
  });
}

async function main(): Promise<void> {
  const api = new TallyApi(loadApiKey());
  keyForm(api);
  connection(api);
  let pipeline: PipelineInfo;
  try {
    pipeline = (await api.query<{ pipeline: PipelineInfo }>(PIPELINE_QUERY)).pipeline;
  } catch (err) {
    const unauthorized = err instanceof ApiError && err.unauthorized;
    showError(unauthorized ? `${(err as Error).message} — enter an API key (reader role or above) at the top right.` : (err as Error).message);
    if (unauthorized) byId('api-key').focus();
    window.setTimeout(() => void main(), 5_000);
    return;
  }
  document.body.dataset.ready = 'true';

  new StatsPanel(api, byId('stats'), (mode, status, uptime) => {
    byId('mode').textContent = `${mode}${status === 'ok' ? '' : ` · ${status}`} · up ${fmtDuration(uptime)}`;
  }, showError).start();
  new ClusterPanel(api, byId('cluster-panel')).start();

  const boards = byId('leaderboards');
  if (pipeline.leaderboards.length === 0) boards.append(h('p', { class: 'muted empty' }, 'The pipeline declares no leaderboard.'));
  for (const lb of pipeline.leaderboards) boards.append(new LeaderboardCard(api, lb.name, `${lb.mode} · ${lb.period === 'all' ? 'all time' : `this ${lb.period}`}`, showError).root);

  new GeoMap(api, byId('map-panel'), pipeline.geoIndexes, showError);
  const charts = new Charts(api, byId('charts-panel'), pipeline, defaultCharts(pipeline), showError);
  new Alerts(api, byId('alerts-panel'), pipeline, defaultAlerts(pipeline), (spec, auto) => charts.add(spec, auto), showError);
}

void main();
