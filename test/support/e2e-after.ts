// After each e2e file (and its own hooks): Tally processes it started and left running are
// killed, so a start-up that failed half-way cannot keep jest from exiting.
import { killStrays } from './tally-process.js';

afterAll(async () => {
  const killed = await killStrays();
  if (killed > 0) process.stderr.write(`[e2e] killed ${killed} Tally process(es) the test file left running\n`);
});
