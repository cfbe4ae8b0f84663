/**
 * Tally's entry point: read settings and the pipeline file, refuse to start with every
 * problem listed if either is wrong, then serve.
 */
import { resolve } from 'node:path';
import { DEMO_PIPELINE_PATH, loadPipeline, PipelineError } from './pipeline/load.js';
import { loadSettings, SettingsError } from './settings/settings.js';
import { createTally, baseUrl } from './bootstrap.js';
import { createLogger } from './ops/logger.js';

async function main(): Promise<void> {
  const log = createLogger();
  const problems: string[] = [];
  let settings;
  let pipeline;
  try {
    settings = loadSettings();
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    problems.push(err.message);
  }
  try {
    pipeline = loadPipeline(settings?.pipelinePath ?? (process.env.TALLY_PIPELINE || undefined));
  } catch (err) {
    if (!(err instanceof PipelineError)) throw err;
    problems.push(err.message);
  }
  if (problems.length > 0 || !settings || !pipeline) {
    process.stderr.write(`tally: cannot start\n${problems.join('\n')}\n`);
    process.exit(1);
  }
  // Demo events by default in embedded mode with the bundled demo pipeline; TALLY_DEMO=0/1 decides otherwise.
  settings.demo ??= settings.kafkaBrokers.length === 0 && resolve(settings.pipelinePath) === DEMO_PIPELINE_PATH;
  if (!settings.apiKeys) log.warn('TALLY_API_KEYS is not set: every client may query, subscribe and ingest');
  const app = await createTally({ settings, pipeline });
  // Graceful stop: stop consuming, flush, close servers, then exit 0. A second signal exits at once.
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, 'stopping');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ error: String(err) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const base = baseUrl(app);
  log.info({ url: `${base}/graphql`, dashboard: `${base}/`, graphiql: `${base}/graphiql`, mode: settings.kafkaBrokers.length > 0 ? 'kafka' : 'embedded', pipeline: settings.pipelinePath }, 'tally is serving');
}

main().catch((err: unknown) => {
  process.stderr.write(`tally: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
