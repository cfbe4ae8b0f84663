// Seeded randomness for test workloads: the same PRNG the demo generator uses.
export { mulberry32 } from '../../src/demo/random.js';
