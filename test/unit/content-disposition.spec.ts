// Under Jest, @fastify/static's require('content-disposition') (an ES module in v3) is mapped to
// test/support/content-disposition.cjs: its create(), the one function @fastify/static calls,
// must answer as v3's does.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface ContentDisposition {
  create(filename: string): string;
}

describe('the content-disposition mapping of the tests', () => {
  it("gives @fastify/static a create() that answers as v3's", async () => {
    const mapped = require('../support/content-disposition.cjs') as ContentDisposition;
    const v3 = (await import('../../node_modules/@fastify/static/node_modules/content-disposition/dist/index.js')) as ContentDisposition;
    for (const name of ['report 1.csv', 'naïve.txt', 'отчёт.pdf', 'a"b.txt']) expect(mapped.create(name)).toBe(v3.create(name));
    expect(mapped.create('report 1.csv')).toBe('attachment; filename="report 1.csv"');
  });
});
