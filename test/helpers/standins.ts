/** PagerDuty stand-ins that close by themselves after each test of the file that asks for them. */
import { afterEach } from 'vitest';
import { startPdServer, type PdServer } from './pd-server.js';

/** Call once at the top of a test file; the function it returns starts a stand-in. */
export function standIns(): () => Promise<PdServer> {
  const open: PdServer[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((pd) => pd.close()));
  });
  return async () => {
    const pd = await startPdServer();
    open.push(pd);
    return pd;
  };
}
