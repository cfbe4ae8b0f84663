/* eslint-disable @typescript-eslint/no-require-imports */
// content-disposition 3 (a dependency of @fastify/static) is an ES module that @fastify/static
// loads with require(): Node >= 20.19 allows that, Jest's module loader on Node 20 does not.
// Tests map it (jest.config.js) to the CommonJS v2 beside it, whose function is v3's `create`.
// v2, from the top of node_modules (an absolute path: the mapping matches only the bare name)
const contentDisposition = require(require('node:path').join(__dirname, '..', '..', 'node_modules', 'content-disposition'));
module.exports = { create: contentDisposition, parse: contentDisposition.parse };
