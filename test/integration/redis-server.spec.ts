// The throwaway redis-server used by benchmarks and cross-checks starts, answers and stops.
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../support/redis-server.js';

describe('test redis-server', () => {
  let server: RedisServer;
  let client: Redis;

  beforeAll(async () => {
    server = await startRedis();
    client = new Redis({ host: server.host, port: server.port, lazyConnect: true });
    await client.connect();
  });

  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('listens on a loopback port and answers SET/GET', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    expect(server.version).toMatch(/^\d+\.\d+/);
    expect(await client.set('tally:probe', 'v1')).toBe('OK');
    expect(await client.get('tally:probe')).toBe('v1');
    expect(await client.zadd('tally:z', '3', 'c', '1', 'a', '2', 'b')).toBe(3);
    expect(await client.zrange('tally:z', '0', '-1')).toEqual(['a', 'b', 'c']);
  });

  it('persists nothing', async () => {
    expect(await client.config('GET', 'save')).toEqual(['save', '']);
    expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
  });

  it('stops by pid', async () => {
    const other = await startRedis();
    await other.stop();
    expect(() => process.kill(other.pid, 0)).toThrow();
  });
});
