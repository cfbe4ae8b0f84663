// Three projects: `unit` (engine, pipeline, router; no broker), `integration` (cross-checks
// against a real redis-server) and `e2e` (the app against a
// real Kafka broker, started once per run by the global setup unless KAFKA_BROKERS is set).
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // an ES module required by @fastify/static, mapped to the CommonJS v2 (a devDependency): see the file
    '^content-disposition$': '<rootDir>/test/support/content-disposition.cjs',
  },
  transform: { '^.+\\.ts$': swc },
  setupFiles: ['<rootDir>/test/support/quiet-logs.ts', '<rootDir>/test/support/fast-check-seed.ts'],
};
export default {
  // testTimeout is a global option (a project's own is ignored when several projects run):
  // e2e and integration suites wait for a broker, a redis-server and subscriptions.
  testTimeout: 120000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/unit/**/*.spec.ts'] },
    {
      // needs a real redis-server (started per suite by test/support/redis-server.ts)
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.spec.ts'],
      testTimeout: 120000,
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/support/e2e-after.ts'],
      testTimeout: 120000,
    },
  ],
};
