import tseslint from 'typescript-eslint';

// The engine (src/features, src/leaderboard, src/geo) is plain TypeScript: no framework,
// no Kafka client, no GraphQL. Only each domain's *.module.ts composes it with NestJS.
const engineBoundary = {
  patterns: [
    { group: ['@nestjs/*', '@apollo/*'], message: 'Engine files import no NestJS/Apollo; compose in *.module.ts or src/graphql.' },
    { group: ['kafkajs', 'kafkajs/*'], message: 'Engine files import no Kafka client; that belongs to src/ingest.' },
    { group: ['graphql', 'graphql/*', 'graphql-ws', 'graphql-ws/*'], message: 'Engine files import no GraphQL; resolvers live in src/graphql.' },
    { group: ['**/ingest/*', '**/graphql/*', '**/ingest', '**/graphql'], message: 'Domains never depend on the transports.' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.kafka/**', 'public/**', 'test-results/**', 'bench-results/tmp/**', '.data/**', '.redis/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/features/**/*.ts', 'src/leaderboard/**/*.ts', 'src/geo/**/*.ts'],
    ignores: ['**/*.module.ts'],
    rules: { 'no-restricted-imports': ['error', engineBoundary] },
  },
);
