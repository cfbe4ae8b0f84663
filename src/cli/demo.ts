/** `tally demo`: the demo pipeline's synthetic events, sent to a running Tally or to Kafka. */
import { parseDuration } from '../pipeline/duration.js';
import { loadPipeline } from '../pipeline/load.js';
import { DemoGenerator } from '../demo/demo-generator.js';
import { DemoRunner } from '../demo/demo-runner.js';
import { httpSink, kafkaSink } from '../demo/demo-sinks.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { EXIT } from './output.js';

export const demoCommand: Command = {
  name: 'demo',
  usage: 'tally demo [--url URL | --brokers HOST:PORT] [--duration 5m] [--key KEY]',
  summary: 'send the demo pipeline synthetic events (card payments with fraud bursts, scores, drivers)',
  help: `Generates the demo pipeline's events — card transactions with a fraudulent burst every
30-60 s, card profile updates, game scores, drivers moving through New York across the
airport and downtown fences — and sends them, until Ctrl-C or --duration:
  - to Kafka when --brokers (or KAFKA_BROKERS) is given, one topic per source, keyed by entity;
  - otherwise to a running Tally's HTTP ingest (--url, default http://127.0.0.1:4000), with
    --key (or TALLY_API_KEY) as a writer key when keys are set.
\`npm start\` in embedded mode already runs this generator in-process (TALLY_DEMO).`,
  options: {
    url: { value: true, placeholder: 'URL', description: "a running Tally's base URL (default http://127.0.0.1:4000)" },
    brokers: { value: true, placeholder: 'HOST:PORT,...', description: 'write to Kafka instead (default: KAFKA_BROKERS)' },
    key: { value: true, placeholder: 'KEY', description: 'API key with the writer role (default: TALLY_API_KEY)' },
    duration: { value: true, placeholder: 'DURATION', description: 'stop after this long (e.g. 90s, 5m); default: until Ctrl-C' },
    pipeline: { value: true, placeholder: 'FILE', description: 'pipeline whose sources receive events (default: the demo pipeline)' },
    seed: { value: true, placeholder: 'N', description: 'random seed (default 42)' },
  },
  async run({ positionals, options }, io) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const durationMs = typeof options.duration === 'string' ? parseDuration(options.duration) : undefined;
    if (options.duration !== undefined && (durationMs === undefined || !Number.isFinite(durationMs))) throw new UsageError(`--duration: "${String(options.duration)}" is not a duration (e.g. 90s, 5m)`);
    const seed = options.seed === undefined ? 42 : Number(options.seed);
    if (!Number.isInteger(seed)) throw new UsageError(`--seed: "${String(options.seed)}" is not a whole number`);
    const pipeline = loadPipeline(typeof options.pipeline === 'string' ? options.pipeline : undefined);
    const brokers = (typeof options.brokers === 'string' ? options.brokers : (process.env.KAFKA_BROKERS ?? '')).split(',').map((b) => b.trim()).filter(Boolean);
    const url = typeof options.url === 'string' ? options.url : 'http://127.0.0.1:4000';
    const key = typeof options.key === 'string' ? options.key : process.env.TALLY_API_KEY;
    const sink = brokers.length > 0 && options.url === undefined ? kafkaSink(brokers, pipeline) : httpSink(url, key);
    const runner = new DemoRunner(new DemoGenerator({ seed }), sink, pipeline, { warn: (m) => io.err(`${m}\n`) });
    io.err(`tally demo: sending to ${sink.name}${durationMs ? ` for ${options.duration}` : ' (Ctrl-C stops)'}\n`);
    runner.start();
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const report = setInterval(() => {
        const t = runner.totals;
        io.err(`${io.tty ? '\r' : ''}${Math.round((Date.now() - started) / 1000)}s: ${t.sent.toLocaleString('en')} events sent${t.rejected ? `, ${t.rejected} refused` : ''}${t.failures ? `, ${t.failures} failed sends` : ''}${io.tty ? '   ' : '\n'}`);
      }, io.tty ? 1_000 : 10_000);
      const done = () => {
        clearInterval(report);
        process.off('SIGINT', done);
        resolve();
      };
      process.once('SIGINT', done);
      if (durationMs) setTimeout(done, durationMs).unref();
    });
    await runner.stop();
    const t = runner.totals;
    io.err(`${io.tty ? '\n' : ''}tally demo: ${t.sent.toLocaleString('en')} events sent, ${t.rejected} refused, ${t.failures} failed sends\n`);
    return t.failures > 0 && t.sent === 0 ? EXIT.failed : EXIT.ok;
  },
};
