import { IngestGate } from './ingest-gate.js';

const tick = () => new Promise((r) => setImmediate(r));

describe(IngestGate.name, () => {
  it('pause() waits for the changes inside, and holds new ones until resume()', async () => {
    const sut = new IngestGate();
    expect(sut.tryEnter()).toBe(true);
    let paused = false;
    const pausing = sut.pause().then(() => (paused = true));
    await tick();
    expect(paused).toBe(false);
    expect(sut.tryEnter()).toBe(false);
    let entered = false;
    const entering = sut.enter().then((ok) => (entered = ok));
    sut.leave();
    await pausing;
    expect(sut.inFlight).toBe(0);
    await tick();
    expect(entered).toBe(false);
    sut.resume();
    await entering;
    expect(entered).toBe(true);
    expect(sut.inFlight).toBe(1);
  });

  it('nests pauses: open again only after every resume()', async () => {
    const sut = new IngestGate();
    await sut.pause();
    await sut.pause();
    sut.resume();
    expect(sut.open).toBe(false);
    sut.resume();
    expect(sut.open).toBe(true);
    expect(() => sut.resume()).toThrow();
  });

  it('close() answers waiting and later callers with false', async () => {
    const sut = new IngestGate();
    await sut.pause();
    const waiting = sut.enter();
    sut.close();
    expect(await waiting).toBe(false);
    expect(await sut.enter()).toBe(false);
    expect(sut.tryEnter()).toBe(false);
  });
});
