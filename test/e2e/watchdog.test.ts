/**
 * Alertmanager's Watchdog as a heartbeat, end to end: the real `medic serve` receives Alertmanager's
 * webhook notification (version 4, as Alertmanager POSTs it) on the ping URL and records a beat;
 * when notifications stop, the real `medic check` (under faketime, past interval + grace) pages a
 * PagerDuty stand-in. The receiver config of docs/metrics.md passes the real `amtool check-config`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isResolvedNotification } from '../../src/serve/server.js';
import { tempProject, type Project } from '../helpers/cli.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';
import { ROUTING_KEY, startServe } from '../helpers/serve.js';

const MIN = 60_000;
const fixture = (name: string): string => readFileSync(new URL(`../fixtures/alertmanager/${name}`, import.meta.url), 'utf8');
/** As Alertmanager sends it: Go's encoding/json, compact, one line. */
const FIRING = JSON.stringify(JSON.parse(fixture('watchdog-firing.json')));
const RESOLVED = JSON.stringify(JSON.parse(fixture('watchdog-resolved.json')));

let project: Project | undefined;
let pd: PdServer | undefined;
afterEach(async () => {
  await pd?.close();
  pd = undefined;
  project?.remove();
  project = undefined;
});

/** POSTs `body` to `url` with the headers Alertmanager's webhook notifier sends. */
async function notify(url: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': 'Alertmanager/0.25.0' }, body });
  return { status: res.status, text: await res.text() };
}

describe("Alertmanager's Watchdog through medic serve", { timeout: 120_000 }, () => {
  it('a firing notification (2 KB+) is a beat, its body kept cut to serve.bodyLimit; a resolved one is a log line, not a beat; silence past interval + grace pages', async () => {
    expect(Buffer.byteLength(FIRING)).toBeGreaterThan(2048);
    pd = await startPdServer();
    const p = (project = tempProject());
    const s = await startServe(
      {
        database: 'medic.db',
        targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } },
        defaults: { targets: ['oncall'] },
        services: [{ slug: 'watchdog', interval: '5m', grace: '2m' }],
        serve: { listen: '127.0.0.1:0', bodyLimit: 1024 },
      },
      { dir: p.dir },
    );
    const env = { PAGERDUTY_ROUTING_KEY: ROUTING_KEY };

    const sent = Date.now();
    expect(await notify(`${s.base}/watchdog`, FIRING)).toEqual({ status: 200, text: 'OK' });

    const status = await p.run(['status', '--json'], { env });
    expect(status.code).toBe(0);
    const row = (JSON.parse(status.stdout) as { slug: string; state: string; lastSeen: string | null }[]).find((r) => r.slug === 'watchdog');
    expect(row).toMatchObject({ state: 'up' });
    expect(Date.parse(row!.lastSeen!)).toBeGreaterThanOrEqual(Math.floor(sent / 1000) * 1000);

    const history = await p.run(['history', 'watchdog', '--json'], { env });
    expect(history.code).toBe(0);
    const events = (JSON.parse(history.stdout) as { events: { kind: string; signal?: string; outputTail?: string | null }[] }).events;
    const beats = events.filter((e) => e.kind === 'signal');
    expect(beats.map((e) => e.signal)).toEqual(['ok']);
    // The notification is kept as the beat's output, cut to serve.bodyLimit bytes (a 2.6 KB body: its head).
    expect(beats[0]!.outputTail).toBe(FIRING.slice(0, 1024));

    // send_resolved left on: the Watchdog stopped firing. Kept as a log line, not a beat.
    expect(await notify(`${s.base}/watchdog`, RESOLVED)).toEqual({ status: 200, text: 'OK' });
    const after = (JSON.parse((await p.run(['history', 'watchdog', '--json'], { env })).stdout) as { events: { kind: string; signal?: string; message?: string }[] }).events;
    expect(after.filter((e) => e.kind === 'signal').map((e) => e.signal)).toEqual(['ok']);
    const logs = after.filter((e) => e.kind === 'log');
    expect(logs).toHaveLength(1);
    expect(logs[0]!.message).toMatch(/^\{"receiver":"medic-watchdog","status":"resolved",/);

    // Notifications keep coming (repeat_interval shorter than the interval): nothing to page.
    const quiet = await p.run(['check'], { env });
    expect({ code: quiet.code, stderr: quiet.stderr }).toEqual({ code: 0, stderr: '' });
    expect(pd.requests).toEqual([]);

    // Prometheus or Alertmanager died: no notification for interval + grace and a minute more.
    const late = await p.run(['check'], { env, at: Math.ceil((sent + 8 * MIN) / 1000) * 1000 });
    expect(late.stderr).toBe('');
    expect(pd.accepted).toHaveLength(1);
    expect(pd.accepted[0]!.body).toMatchObject({ event_action: 'trigger', routing_key: ROUTING_KEY });
    expect(JSON.stringify(pd.accepted[0]!.body.payload)).toContain('watchdog');
  });
});

describe('isResolvedNotification', () => {
  const firing = Buffer.from(FIRING);
  const resolved = Buffer.from(RESOLVED);
  it.each([
    ['Alertmanager, resolved', 'Alertmanager/0.25.0', resolved, true],
    ['Alertmanager, resolved, body cut to 100 bytes', 'Alertmanager/0.27.0', resolved.subarray(0, 100), true],
    ['Alertmanager, a receiver name with an escaped quote', 'Alertmanager/0.25.0', Buffer.from('{"receiver":"a\\"b","status":"resolved","alerts":[]}'), true],
    ['Alertmanager, firing', 'Alertmanager/0.25.0', firing, false],
    ['curl posting the resolved payload', 'curl/8.5.0', resolved, false],
    ['no User-Agent', undefined, resolved, false],
    ['pretty-printed (not as Alertmanager writes it)', 'Alertmanager/0.25.0', Buffer.from(fixture('watchdog-resolved.json')), false],
    ['"status":"resolved" further on (a job\'s own JSON)', 'Alertmanager/0.25.0', Buffer.from('{"job":"x","receiver":"r","status":"resolved"}'), false],
    ['empty body', 'Alertmanager/0.25.0', Buffer.alloc(0), false],
    ['a receiver name of 1,100 characters', 'Alertmanager/0.25.0', Buffer.from(`{"receiver":"${'r'.repeat(1100)}","status":"resolved","alerts":[]}`), true],
  ] as const)('%s', (_name, userAgent, body, expected) => {
    expect(isResolvedNotification(userAgent, body)).toBe(expected);
  });
});

describe("docs/metrics.md, Alertmanager's watchdog", () => {
  const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf("## Alertmanager's watchdog"));

  it('its alertmanager.yml passes amtool check-config, its rule promtool check rules, and its route repeats within the service interval', () => {
    const config = /```yaml\n(route:[^]*?)```/.exec(section)?.[1];
    const rules = /```yaml\n(# watchdog\.rules\.yml\n[^]*?)```/.exec(section)?.[1];
    const service = JSON.parse(/```json\n([^]*?)```/.exec(section)![1]!) as { slug: string; interval: string; grace: string };
    expect(config).toBeDefined();
    expect(rules).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'medic-alertmanager-'));
    try {
      writeFileSync(join(dir, 'alertmanager.yml'), config!);
      const am = spawnSync('amtool', ['check-config', join(dir, 'alertmanager.yml')], { encoding: 'utf8' });
      expect({ code: am.status, err: am.stderr }).toEqual({ code: 0, err: '' });
      expect(am.stdout).toContain('SUCCESS');
      expect(am.stdout).toContain(' - 2 receivers');
      writeFileSync(join(dir, 'watchdog.rules.yml'), rules!);
      const prom = spawnSync('promtool', ['check', 'rules', join(dir, 'watchdog.rules.yml')], { encoding: 'utf8' });
      expect({ code: prom.status, err: prom.stderr }).toEqual({ code: 0, err: '' });
      expect(prom.stdout).toContain('SUCCESS: 1 rules found');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(config).toContain(`url: https://medic.internal/ping/<key>/${service.slug}`);
    expect(config).toContain('send_resolved: false');
    expect(config).toMatch(/matchers: \['alertname = Watchdog'\]\n\s+receiver: medic-watchdog/);
    const minutes = (d: string) => Number(/^(\d+)m$/.exec(d)![1]);
    const repeat = minutes(/repeat_interval: (\S+)/.exec(config!)![1]!);
    const group = minutes(/group_interval: (\S+)/.exec(config!)![1]!);
    // A notification every max(repeat, group) interval at worst, twice within the service's interval.
    expect(2 * Math.max(repeat, group)).toBeLessThanOrEqual(minutes(service.interval));
  });
});
