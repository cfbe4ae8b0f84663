/* eslint-disable @typescript-eslint/no-require-imports */
// content-disposition 3 (a dependency of @fastify/static) is an ES module that @fastify/static
// loads with require(): Node >= 20.19 allows that, Jest's module loader on Node 20 does not.
// Tests map it (jest.config.js) to the CommonJS v2, whose create() (the one function
// @fastify/static calls) answers as v3's: a devDependency of Tally for this alone, at the top
// of node_modules (v3 stays under @fastify/static). An absolute path: the mapping matches only
// the bare name.
const { create, parse } = require(require('node:path').join(__dirname, '..', '..', 'node_modules', 'content-disposition'));
module.exports = { create, parse };
