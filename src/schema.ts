/**
 * Writes the GraphQL schema built from the resolvers to schema.gql (or the path given):
 * `npm run schema`. The committed file is what clients read; a test checks it is current.
 */
import 'reflect-metadata';
import { resolve } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';
import { loadPipeline } from './pipeline/load.js';
import { loadSettings } from './settings/settings.js';

const target = resolve(process.argv[2] ?? 'schema.gql');
process.env.TALLY_SCHEMA_FILE = target;
const settings = { ...loadSettings({}), kafkaBrokers: [] };
// Tally's HTTP platform (bootstrap.ts): without an adapter Nest would look for Express.
const app = await NestFactory.create(AppModule.forRoot({ settings, pipeline: loadPipeline() }), new FastifyAdapter(), { logger: ['error'] });
await app.init();
await app.close();
process.stdout.write(`wrote ${target}\n`);
