// A real single-node Apache Kafka broker (KRaft, broker + controller in one JVM) for local
// runs and tests, fetched from Maven Central as jars — no Docker needed.
//
//   npx tsx scripts/kafka/broker.ts start     (or: npm run kafka)
//
// prints KAFKA_BROKERS=127.0.0.1:<port> (and KAFKA_PID=<pid>) and serves until Ctrl-C.
// From code:
//
//   const kafka = await startKafka();   // { brokers, pid, stop() }
//
// Both listeners bind free loopback ports, so a Kafka of your own on 9092 does not clash.
// Each broker gets a fresh data directory (wiped and formatted on start), unless restarted:
//
//   const kafka = await startKafka({ dir });         // fresh, in `dir` (kept after stop)
//   await kafka.stop();                              // the broker is gone ...
//   const again = await startKafka({ dir, restart: true });   // ... and back: same ports, same data
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';

export const KAFKA_VERSION = '4.1.1';
const LOG4J_VERSION = '2.24.3';
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 15_000;
const READY_LINE = 'Kafka Server started';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const KAFKA_HOME = join(ROOT, '.kafka');
export const KAFKA_LIBS = join(KAFKA_HOME, 'libs');
const POM = join(HERE, 'pom.xml');
/** jars whose presence means the fetch is complete */
const MARKERS = [`kafka_2.13-${KAFKA_VERSION}.jar`, `log4j-slf4j-impl-${LOG4J_VERSION}.jar`];

export interface KafkaBroker {
  /** bootstrap servers, e.g. `127.0.0.1:40123` */
  brokers: string;
  /** process id of the broker's JVM */
  pid: number;
  /** its working directory (server.properties, data, logs) */
  dir: string;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the JVM has exited */
  stop(): Promise<void>;
}

export interface StartKafkaOptions {
  /**
   * Working directory of the broker (server.properties, data, logs). It is wiped on start
   * (unless `restart`) and kept after stop. Default: a fresh `.kafka/run-*` directory removed on stop.
   */
  dir?: string;
  /**
   * Start the broker that last ran in `dir` (required) again as it was: the same ports, cluster
   * and data — nothing wiped or formatted. For tests that take a broker down and bring it back.
   */
  restart?: boolean;
}

const INSTALL_HINT =
  'Install Java 17+ and Maven (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless maven`), ' +
  'or point KAFKA_BROKERS at an existing broker (e.g. KAFKA_BROKERS=127.0.0.1:9092).';

function say(msg: string): void {
  process.stderr.write(`[kafka] ${msg}\n`);
}

/** Throws a plain Error when Java 17+ is missing (and Maven, when the jars must be fetched). */
export function checkPrerequisites(opts: { needMaven?: boolean } = {}): void {
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (java.error || java.status !== 0) {
    throw new Error(`Cannot start a Kafka broker: \`java\` was not found on PATH. ${INSTALL_HINT}`);
  }
  const out = `${java.stderr}${java.stdout}`;
  const m = /version "(\d+)(?:\.(\d+))?/.exec(out);
  const major = m ? (m[1] === '1' ? Number(m[2]) : Number(m[1])) : NaN;
  if (!(major >= 17)) {
    const first = out.split('\n')[0]?.trim() ?? '';
    throw new Error(`Cannot start a Kafka broker: Kafka ${KAFKA_VERSION} needs Java 17 or newer, found: ${first}. ${INSTALL_HINT}`);
  }
  if (opts.needMaven) {
    const mvn = spawnSync('mvn', ['-v'], { encoding: 'utf8' });
    if (mvn.error || mvn.status !== 0) {
      throw new Error(
        `Cannot start a Kafka broker: \`mvn\` (Maven) was not found on PATH; it is needed once to fetch the Kafka jars into ${KAFKA_LIBS}. ${INSTALL_HINT}`,
      );
    }
  }
}

function libsPresent(dir = KAFKA_LIBS): boolean {
  return MARKERS.every((f) => existsSync(join(dir, f)));
}

/** Fetches Kafka and its runtime closure into `.kafka/libs` unless already there. */
export async function ensureKafkaLibs(): Promise<string> {
  if (libsPresent()) return KAFKA_LIBS;
  checkPrerequisites({ needMaven: true });
  say(`fetching Apache Kafka ${KAFKA_VERSION} jars from Maven Central into ${KAFKA_LIBS} (first time only, may take a while)...`);
  mkdirSync(KAFKA_HOME, { recursive: true });
  // Fetch into a private folder and rename it into place, so that concurrent runs never see half a folder.
  const tmp = mkdtempSync(join(KAFKA_HOME, 'libs-fetch-'));
  try {
    const res = await run('mvn', ['-q', '-B', '-f', POM, 'dependency:copy-dependencies', `-Dkafka.libs.dir=${tmp}`]);
    if (res.code !== 0 || !libsPresent(tmp)) {
      throw new Error(
        `Fetching the Kafka jars with Maven failed (exit ${res.code}). Is Maven Central reachable? ` +
          `Output:\n${tail(res.output, 30)}\n${INSTALL_HINT}`,
      );
    }
    if (!libsPresent()) {
      rmSync(KAFKA_LIBS, { recursive: true, force: true });
      try {
        renameSync(tmp, KAFKA_LIBS);
      } catch (err) {
        if (!libsPresent()) throw err; // someone else won the race: fine
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return KAFKA_LIBS;
}

function run(cmd: string, args: string[], cwd = ROOT): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => resolvePromise({ code: -1, output: `${output}${String(err)}` }));
    child.on('close', (code) => resolvePromise({ code: code ?? -1, output }));
  });
}

/** Free TCP ports on 127.0.0.1, distinct from each other. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((res, rej) => {
          const s = createServer();
          s.once('error', rej);
          s.listen(0, '127.0.0.1', () => res(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((res) => s.close(res))));
  return ports;
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines - 1).join('\n').trimEnd();
}

function readTail(file: string, lines = 40): string {
  try {
    return tail(readFileSync(file, 'utf8'), lines);
  } catch {
    return '(no output)';
  }
}

function serverProperties(dataDir: string, brokerPort: number, controllerPort: number): string {
  return `# single-node KRaft broker for local runs and tests (generated by scripts/kafka/broker.ts)
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}
listeners=PLAINTEXT://127.0.0.1:${brokerPort},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${brokerPort},CONTROLLER://127.0.0.1:${controllerPort}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=${dataDir}
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
`;
}

function log4jConfig(logFile: string): string {
  // Everything to one file; nothing on the console.
  return `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName="${escapeXml(logFile)}" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
    <Logger name="org.apache.kafka.common.config" level="WARN"/>
    <Logger name="org.apache.kafka.common.utils.AppInfoParser" level="WARN"/>
    <Logger name="org.apache.kafka.storage.internals.log" level="WARN"/>
    <Logger name="kafka.log" level="WARN"/>
    <Logger name="org.apache.kafka.raft" level="WARN"/>
    <Logger name="org.apache.kafka.image" level="WARN"/>
    <Logger name="org.apache.kafka.metadata" level="WARN"/>
  </Loggers>
</Configuration>
`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Brokers left behind by a run that died without stopping them (e.g. a killed test run):
 * each default run directory records its owner's and its broker's pid; when the owner is
 * gone and that pid is still the JVM started with this directory's server.properties, kill it.
 */
function reapOrphans(): void {
  let entries: string[];
  try {
    entries = readdirSync(KAFKA_HOME).filter((e) => e.startsWith('run-'));
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = join(KAFKA_HOME, entry);
    try {
      const owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
      if (owner && isAlive(owner)) continue;
      const broker = Number(readFileSync(join(dir, 'broker.pid'), 'utf8'));
      if (broker && isAlive(broker)) {
        const cmdline = readFileSync(`/proc/${broker}/cmdline`, 'utf8');
        if (cmdline.includes(join(dir, 'server.properties'))) process.kill(broker, 'SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours, half-written or already gone: leave it
    }
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      res(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      res(true);
    };
    child.once('exit', onExit);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a single-node KRaft broker on free loopback ports and waits until it serves requests. */
export async function startKafka(opts: StartKafkaOptions = {}): Promise<KafkaBroker> {
  checkPrerequisites();
  await ensureKafkaLibs();
  mkdirSync(KAFKA_HOME, { recursive: true });
  reapOrphans();
  if (opts.restart) return restartIn(opts.dir);
  try {
    return await startOnce(opts);
  } catch (err) {
    // another process may have taken a port between our probe and the broker's bind: retry once
    if (err instanceof PortClashError) return startOnce(opts);
    throw err;
  }
}

/** Starts the broker of an existing working directory again, on the ports its server.properties names. */
async function restartIn(dir: string | undefined): Promise<KafkaBroker> {
  if (dir === undefined) throw new Error('startKafka({ restart: true }) needs the `dir` of the broker to start again');
  const home = resolve(dir);
  const propsFile = join(home, 'server.properties');
  if (!existsSync(propsFile) || !existsSync(join(home, 'data', 'meta.properties'))) {
    throw new Error(`Cannot restart a Kafka broker in ${home}: no formatted broker there (start one with startKafka({ dir }) first)`);
  }
  const m = /^listeners=PLAINTEXT:\/\/127\.0\.0\.1:(\d+),/m.exec(readFileSync(propsFile, 'utf8'));
  if (!m) throw new Error(`Cannot restart a Kafka broker in ${home}: no PLAINTEXT listener in ${propsFile}`);
  writeFileSync(join(home, 'owner.pid'), String(process.pid));
  try {
    return await launch(home, false, `127.0.0.1:${m[1]}`);
  } catch (err) {
    if (!(err instanceof PortClashError)) throw err;
    // The port may still be held by the previous broker's sockets for a moment: once more.
    await sleep(2_000);
    return launch(home, false, `127.0.0.1:${m[1]}`);
  }
}

class PortClashError extends Error {}

async function startOnce(opts: StartKafkaOptions): Promise<KafkaBroker> {
  const ownDir = opts.dir === undefined;
  const dir = ownDir ? mkdtempSync(join(KAFKA_HOME, 'run-')) : resolve(opts.dir!);
  if (!ownDir) rmSync(dir, { recursive: true, force: true });
  const dataDir = join(dir, 'data');
  const logsDir = join(dir, 'logs');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(logsDir, { recursive: true });
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));

  const [brokerPort, controllerPort] = await freePorts(2);
  const propsFile = join(dir, 'server.properties');
  const log4jFile = join(dir, 'log4j2.xml');
  const logFile = join(logsDir, 'broker.log');
  writeFileSync(propsFile, serverProperties(dataDir, brokerPort!, controllerPort!));
  writeFileSync(log4jFile, log4jConfig(logFile));

  // base64url may start with "-", which the storage tool's argument parser takes for an option.
  let clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  const format = await run('java', [...jvmArgs(dir), '-cp', `${KAFKA_LIBS}/*`, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId, '-c', propsFile], dir);
  if (format.code !== 0) {
    throw new Error(`Formatting the Kafka data directory failed (exit ${format.code}):\n${tail(format.output, 30)}`);
  }
  return launch(dir, ownDir, `127.0.0.1:${brokerPort}`);
}

function jvmArgs(dir: string): string[] {
  return ['-Xms256m', '-Xmx512m', '-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${join(dir, 'log4j2.xml')}`, `-Dkafka.logs.dir=${join(dir, 'logs')}`];
}

/**
 * Runs the broker of a prepared working directory (server.properties, log4j2.xml, a formatted
 * data directory) and waits until it serves `brokers`. `ownDir`: remove the directory on stop.
 */
async function launch(dir: string, ownDir: boolean, brokers: string): Promise<KafkaBroker> {
  const propsFile = join(dir, 'server.properties');
  const logFile = join(dir, 'logs', 'broker.log');
  const outFile = join(dir, 'logs', 'stdout.log');
  // A restart reads the log from here on: the ready line of the previous run is no sign.
  const logFrom = existsSync(logFile) ? statSync(logFile).size : 0;
  const out = openSync(outFile, 'a');
  const child = spawn('java', [...jvmArgs(dir), '-cp', `${KAFKA_LIBS}/*`, 'kafka.Kafka', propsFile], { cwd: dir, stdio: ['ignore', out, out] });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) {
    await new Promise((r) => child.once('error', r));
    throw new Error(`Could not spawn java for the Kafka broker. ${INSTALL_HINT}`);
  }
  writeFileSync(join(dir, 'broker.pid'), String(pid));
  // Never leave a JVM behind when this process exits without calling stop().
  const killOnExit = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await waitForExit(child, STOP_GRACE_MS))) {
          child.kill('SIGKILL');
          await waitForExit(child, 5_000);
        }
      }
      process.off('exit', killOnExit);
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    })());

  try {
    await waitReady(child, brokers, logFile, logFrom, outFile);
  } catch (err) {
    await stop();
    throw err;
  }
  return { brokers, pid, dir, stop };
}

async function waitReady(child: ChildProcess, brokers: string, logFile: string, logFrom: number, outFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const why = () => `--- ${logFile} (tail) ---\n${readTail(logFile)}\n--- ${outFile} (tail) ---\n${readTail(outFile, 20)}`;
  const exited = () => child.exitCode !== null || child.signalCode !== null;

  // 1. the broker says it has started
  for (;;) {
    if (exited()) {
      const logs = why();
      if (/Address already in use|BindException/.test(logs)) throw new PortClashError(`Kafka broker could not bind its port.\n${logs}`);
      throw new Error(`The Kafka broker exited during startup (code ${child.exitCode}, signal ${child.signalCode}).\n${logs}`);
    }
    if (existsSync(logFile) && readFileSync(logFile).subarray(logFrom).toString('utf8').includes(READY_LINE)) break;
    if (Date.now() > deadline) throw new Error(`The Kafka broker did not start within ${READY_TIMEOUT_MS / 1000} s.\n${why()}`);
    await sleep(100);
  }

  // 2. a client can talk to it
  const admin = new Kafka({ clientId: 'tally-broker-check', brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  let lastErr: unknown;
  try {
    for (;;) {
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        if (cluster.brokers.length > 0) return;
      } catch (err) {
        lastErr = err;
      }
      if (exited()) throw new Error(`The Kafka broker exited during startup (code ${child.exitCode}).\n${why()}`);
      if (Date.now() > deadline) {
        throw new Error(`The Kafka broker logged "${READY_LINE}" but did not answer describeCluster within ${READY_TIMEOUT_MS / 1000} s (${String(lastErr)}).\n${why()}`);
      }
      await sleep(200);
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...flags] = argv;
  const unknown = flags.filter((f) => f !== '--until-stdin-closes');
  if (command !== 'start' || unknown.length > 0) {
    process.stderr.write(
      'usage: npx tsx scripts/kafka/broker.ts start [--until-stdin-closes]\n' +
        '  runs a single-node Kafka broker until Ctrl-C (or SIGTERM, or, with the flag, until stdin closes)\n',
    );
    process.exitCode = 2;
    return;
  }
  // If whoever reads our output goes away, keep going and still stop the broker cleanly.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const started = Date.now();
  const kafka = await startKafka();
  say(`broker ready in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${kafka.pid}); Ctrl-C to stop`);
  process.stdout.write(`KAFKA_BROKERS=${kafka.brokers}\nKAFKA_PID=${kafka.pid}\n`);
  await new Promise<void>((res) => {
    process.once('SIGINT', () => res());
    process.once('SIGTERM', () => res());
    process.once('SIGHUP', () => res());
    if (flags.includes('--until-stdin-closes')) {
      // the parent holds our stdin open; when it goes away (even killed), stop the broker
      process.stdin.once('end', () => res());
      process.stdin.once('error', () => res());
      process.stdin.resume();
    }
  });
  say('stopping...');
  await kafka.stop();
  process.exit(0);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
