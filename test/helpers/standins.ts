/** Stand-ins (PagerDuty, proxies, plain servers) that close by themselves after each test of the file that asks for them. */
import { afterEach } from 'vitest';
import { startPdServer, type PdServer } from './pd-server.js';

type Closable = { close(): Promise<unknown> | void };

/** Call once at the top of a test file; what the returned function is given is closed after each test. */
export function closedAfterEach(): <T extends Closable>(thing: T | Promise<T>) => Promise<T> {
  const open: Closable[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });
  return async (thing) => {
    const it = await thing;
    open.push(it);
    return it;
  };
}

/** Call once at the top of a test file; the function it returns starts a PagerDuty stand-in. */
export function standIns(): () => Promise<PdServer> {
  const track = closedAfterEach();
  return () => track(startPdServer());
}
