/**
 * `checker.heartbeatUrl` end to end: after every successful `medic check`, Medic pings an outside
 * dead man's switch (here a second node:http server on 127.0.0.1); a failed ping is reported but
 * does not fail the run; a run that could not deliver its events does not ping.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { refusedUrl, serverError } from '../helpers/pd-server.js';
import { MIN, startRig, T0 } from '../helpers/trust.js';

interface Ping {
  method: string;
  path: string;
  userAgent: string | undefined;
}

/** A stand-in for healthchecks.io: records every request, answers `status` (or never, with 'hang'). */
async function startPingServer(answer: number | 'hang' = 200): Promise<{ url: string; pings: Ping[] }> {
  const pings: Ping[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      pings.push({ method: req.method ?? '', path: req.url ?? '', userAgent: req.headers['user-agent'] });
      if (answer === 'hang') return;
      res.writeHead(answer, { 'content-type': 'text/plain' });
      res.end(answer === 200 ? 'OK' : 'nope');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping/3f1c2a`, pings };
}

describe('checker.heartbeatUrl: watching the watcher', { timeout: 180_000 }, () => {
  it('a GET after every successful check, including one that delivered a trigger', async () => {
    const ping = await startPingServer();
    const rig = await startRig([{ slug: 'backup' }], { checker: { heartbeatUrl: ping.url } });
    onTestFinished(rig.close);
    const quiet = await rig.ok(T0, ['check']);
    expect(quiet.stderr).toBe('');
    expect(ping.pings).toEqual([{ method: 'GET', path: '/ping/3f1c2a', userAgent: 'medic' }]);

    await rig.ok(T0 + 6 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(ping.pings).toHaveLength(2);
    expect(ping.pings[1]!.method).toBe('GET');
  });

  it('"heartbeatMethod": "POST" sends a POST', async () => {
    const ping = await startPingServer();
    const rig = await startRig([{ slug: 'backup' }], { checker: { heartbeatUrl: ping.url, heartbeatMethod: 'POST' } });
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    expect(ping.pings.map((p) => [p.method, p.path])).toEqual([['POST', '/ping/3f1c2a']]);
  });

  it('the ping answered 500: the check still exits 0 and stderr says so', async () => {
    const ping = await startPingServer(500);
    const rig = await startRig([{ slug: 'backup' }], { checker: { heartbeatUrl: ping.url } });
    onTestFinished(rig.close);
    const r = await rig.ok(T0, ['check']);
    expect(ping.pings).toHaveLength(1);
    expect(r.stderr).toMatch(/could not ping checker\.heartbeatUrl \(GET\): HTTP 500; the run itself succeeded/);
  });

  it('the ping refused (nothing listening): the check still exits 0 and stderr says so', async () => {
    const url = (await refusedUrl()).replace('/v2/enqueue', '/ping');
    const rig = await startRig([{ slug: 'backup' }], { checker: { heartbeatUrl: url } });
    onTestFinished(rig.close);
    const r = await rig.ok(T0, ['check']);
    expect(r.stderr).toMatch(/could not ping checker\.heartbeatUrl \(GET\): connection refused/);
  });

  it('the ping never answered: given up after checker.timeout, the check still exits 0', async () => {
    const ping = await startPingServer('hang');
    const rig = await startRig([{ slug: 'backup' }], { checker: { heartbeatUrl: ping.url, timeout: '1s' } });
    onTestFinished(rig.close);
    const r = await rig.ok(T0, ['check']);
    expect(ping.pings).toHaveLength(1);
    expect(r.stderr).toMatch(/could not ping checker\.heartbeatUrl \(GET\): .*timeout/);
  });

  it('a check that could not deliver (PagerDuty 500 → exit 75) sends no ping', async () => {
    const ping = await startPingServer();
    const rig = await startRig([{ slug: 'backup' }], { checker: { heartbeatUrl: ping.url, gapThreshold: '30d', deliveryBudget: '2s' } });
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    expect(ping.pings).toHaveLength(1);

    rig.pd.reply(() => serverError());
    const failed = await rig.medic(T0 + 7 * MIN, ['check']);
    expect(failed.code, failed.stderr).toBe(75);
    expect(failed.stderr).toMatch(/not yet delivered/);
    expect(rig.triggers().length).toBeGreaterThanOrEqual(1);
    expect(rig.pd.accepted).toHaveLength(0);
    expect(ping.pings).toHaveLength(1);

    // PagerDuty is back: a later run (past the failed run's sped-up clock and its retry time) delivers
    // the queued trigger and pings again.
    rig.pd.reply(() => 202);
    await rig.ok(T0 + 60 * MIN, ['check']);
    expect(rig.pd.accepted).toHaveLength(1);
    expect(ping.pings).toHaveLength(2);
  });
});
