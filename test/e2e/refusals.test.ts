/**
 * No page lost to a mistake the user can fix (SPEC §5): the real binary against a PagerDuty
 * stand-in. A malformed key is caught before anything is sent (78); a refusal keeps the event
 * queued and marked (76 at every check, `status` says "refused") until the target's URL or key
 * changes, or `--retry-refused`; the queued event is sent with the target's current URL and key
 * source.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INVALID_KEY_STEPS } from '../../src/notify/pagerduty.js';
import { statusBySlug, tempProject, type Project } from '../helpers/cli.js';
import { badRequestJson, type Reply } from '../helpers/pd-server.js';
import { standIns } from '../helpers/standins.js';

const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const NEW_KEY = 'b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6a1';
const MIN = 60_000;
const R = Date.parse('2026-03-02T09:00:00Z');
/** Registered at R with interval 5m and grace 1m: down from R + 6m. */
const DOWN = R + 6 * MIN;
const QUIET = { code: 0, stdout: '', stderr: '' };
const TRIGGER = 'trigger medic-heartbeat-nightly-backup';
const RESOLVE = 'resolve medic-heartbeat-nightly-backup';

const startStandIn = standIns();
const actions = (requests: { body: any }[]) => requests.map((r) => `${r.body.event_action} ${r.body.dedup_key}`);

function projectFor(target: Record<string, unknown>): Project {
  const p = tempProject({
    checker: { gapThreshold: '30d', deliveryBudget: '3s' },
    targets: { oncall: { type: 'pagerduty', ...target } },
    services: [{ slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P2', interval: '5m', grace: '1m' }],
  });
  return p;
}

/** Registers the service at R (nothing is due yet, so nothing is sent). */
async function registered(target: Record<string, unknown>, env: Record<string, string> = { PAGERDUTY_ROUTING_KEY: KEY }): Promise<Project> {
  const p = projectFor(target);
  expect(await p.run(['check'], { at: R, frozen: true, env })).toEqual(QUIET);
  return p;
}

describe('a malformed key is a config problem found before sending', { timeout: 180_000 }, () => {
  it('a 33-character key: no request at all, exit 78 naming the target and what is wrong (never the key); fixed, the event goes out', async () => {
    const pd = await startStandIn();
    // The stand-in would answer 400 to such a key: it must never be asked.
    pd.reply(() => badRequestJson(['Invalid routing key']));
    const p = await registered({ eventsUrl: pd.url });
    try {
      const env = { PAGERDUTY_ROUTING_KEY: `${KEY}Z` };
      for (const at of [DOWN, DOWN + MIN]) {
        const res = await p.run(['check'], { at, env });
        expect(res.code).toBe(78);
        expect(res.stderr).toContain('target oncall: the routing key in environment variable PAGERDUTY_ROUTING_KEY is 33 characters, expected 32 letters and digits');
        expect(res.stderr).toContain('1 event for it stays queued');
        expect(res.stderr).not.toContain(KEY);
      }
      expect(pd.requests).toEqual([]);
      expect((await statusBySlug(p, { at: DOWN + MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 1, incidentOpen: true, delivery: 'queued' });

      pd.reply(() => 202);
      expect(await p.run(['check'], { at: DOWN + 2 * MIN, env: { PAGERDUTY_ROUTING_KEY: KEY } })).toEqual(QUIET);
      expect(actions(pd.accepted)).toEqual([TRIGGER]);
      expect((await statusBySlug(p, { at: DOWN + 3 * MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 0, delivery: 'sent', deliveryProblem: null });
    } finally {
      p.remove();
    }
  });

  it('test-alert refuses a badly shaped key before sending (78)', async () => {
    const pd = await startStandIn();
    const p = projectFor({ eventsUrl: pd.url });
    try {
      const res = await p.run(['test-alert'], { env: { PAGERDUTY_ROUTING_KEY: KEY.slice(0, 31) } });
      expect(res.code).toBe(78);
      expect(res.stderr).toContain('is 31 characters, expected 32 letters and digits');
      expect(pd.requests).toEqual([]);
    } finally {
      p.remove();
    }
  });
});

describe('a refusal is kept until the target changes', { timeout: 300_000 }, () => {
  it('404 on a wrong eventsUrl path: exit 76 at every check, status says refused; the corrected URL delivers, exit 0', async () => {
    const pd = await startStandIn();
    const wrong = pd.url.replace(/enqueue$/, 'enqueu');
    const env = { PAGERDUTY_ROUTING_KEY: KEY };
    const p = await registered({ eventsUrl: wrong });
    try {
      const first = await p.run(['check'], { at: DOWN, env });
      expect(first.code).toBe(76);
      expect(first.stderr).toContain('PagerDuty refused the trigger for nightly-backup (target oncall, HTTP 404)');
      expect(first.stderr).toContain('No route POST /v2/enqueu');
      expect(first.stderr).toContain("check the target's eventsUrl");
      expect(first.stderr).toContain('medic check --retry-refused');
      expect(pd.requests).toHaveLength(1);

      const second = await p.run(['check'], { at: DOWN + MIN, env });
      expect(second.code).toBe(76);
      expect(second.stderr).toContain('HTTP 404');
      expect(pd.requests).toHaveLength(1); // not sent again: nothing changed
      const row = (await statusBySlug(p, { at: DOWN + MIN })).get('nightly-backup');
      expect(row).toMatchObject({ incidentOpen: true, pendingEvents: 1, delivery: 'refused' });
      expect(row.deliveryProblem).toContain('trigger to oncall refused (HTTP 404)');
      const table = await p.run(['status'], { at: DOWN + MIN });
      expect(table.stdout).toMatch(/nightly-backup .*refused/);

      p.writeConfig({
        checker: { gapThreshold: '30d', deliveryBudget: '3s' },
        targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } },
        services: [{ slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P2', interval: '5m', grace: '1m' }],
      });
      expect(await p.run(['check'], { at: DOWN + 2 * MIN, env })).toEqual(QUIET);
      expect(actions(pd.accepted)).toEqual([TRIGGER]);
      expect(pd.accepted[0]!.body.payload.timestamp).toBe(new Date(DOWN).toISOString());
      expect(await p.run(['check'], { at: DOWN + 3 * MIN, env })).toEqual(QUIET);
      expect((await statusBySlug(p, { at: DOWN + 3 * MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 0, delivery: 'sent' });
    } finally {
      p.remove();
    }
  });

  it.each<[string, Reply, string[]]>([
    ['a 400 "Invalid Routing Key" (JSON)', badRequestJson(['Invalid Routing Key']), ['Event object is invalid', 'Invalid Routing Key', ...INVALID_KEY_STEPS]],
    ['a plain-text 403', { status: 403, body: 'Forbidden: integration not found', contentType: 'text/plain' }, ['Forbidden: integration not found', ...INVALID_KEY_STEPS]],
  ])('%s: kept and refused, its resolve queued behind it; released by a new key value in the environment', async (_label, reply, quoted) => {
    const pd = await startStandIn();
    pd.reply(() => reply);
    const p = await registered({ eventsUrl: pd.url });
    try {
      const env = { PAGERDUTY_ROUTING_KEY: KEY };
      const first = await p.run(['check'], { at: DOWN, env });
      expect(first.code).toBe(76);
      for (const q of quoted) expect(first.stderr).toContain(q);
      expect(first.stderr).not.toContain(KEY);
      // The service comes back while refused: its resolve waits behind the trigger.
      expect(await p.run(['beat', 'nightly-backup'], { at: DOWN + MIN, env })).toEqual(QUIET);
      const second = await p.run(['check'], { at: DOWN + 2 * MIN, env });
      expect(second.code).toBe(76);
      expect(second.stderr).toContain('it and 1 later event stay queued');
      expect(pd.requests).toHaveLength(1);
      expect((await statusBySlug(p, { at: DOWN + 2 * MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 2, delivery: 'refused' });

      pd.reply(() => 202);
      expect(await p.run(['check'], { at: DOWN + 3 * MIN, env: { PAGERDUTY_ROUTING_KEY: NEW_KEY } })).toEqual(QUIET);
      expect(actions(pd.accepted)).toEqual([TRIGGER, RESOLVE]);
      expect(pd.accepted.map((r) => r.body.routing_key)).toEqual([NEW_KEY, NEW_KEY]);
      expect((await statusBySlug(p, { at: DOWN + 4 * MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 0, incidentOpen: false, delivery: null });
    } finally {
      p.remove();
    }
  });

  it('--retry-refused sends it again with the same URL and key', async () => {
    const pd = await startStandIn();
    pd.replyQueue({ status: 403, body: 'Forbidden', contentType: 'text/plain' });
    const p = await registered({ eventsUrl: pd.url });
    try {
      const env = { PAGERDUTY_ROUTING_KEY: KEY };
      expect((await p.run(['check'], { at: DOWN, env })).code).toBe(76);
      expect((await p.run(['check'], { at: DOWN + MIN, env })).code).toBe(76);
      expect(pd.requests).toHaveLength(1);
      expect(await p.run(['check', '--retry-refused'], { at: DOWN + 2 * MIN, env })).toEqual(QUIET);
      expect(actions(pd.accepted)).toEqual([TRIGGER]);
    } finally {
      p.remove();
    }
  });
});

describe('a queued event is sent with the target\'s current key source', { timeout: 180_000 }, () => {
  it('the key variable is not set where cron runs (78); switching the target to routingKeyFile releases the event', async () => {
    const pd = await startStandIn();
    const p = await registered({ eventsUrl: pd.url, routingKeyEnv: 'PAGERDUTY_ROUTING_KEY' }, {});
    try {
      const res = await p.run(['check'], { at: DOWN });
      expect(res.code).toBe(78);
      expect(res.stderr).toContain('environment variable PAGERDUTY_ROUTING_KEY is not set');
      expect(pd.requests).toEqual([]);

      writeFileSync(join(p.dir, 'pd.key'), `${KEY}\n`, { mode: 0o600 });
      p.writeConfig({
        checker: { gapThreshold: '30d', deliveryBudget: '3s' },
        targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url, routingKeyFile: 'pd.key' } },
        services: [{ slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P2', interval: '5m', grace: '1m' }],
      });
      expect(await p.run(['check'], { at: DOWN + MIN })).toEqual(QUIET);
      expect(actions(pd.accepted)).toEqual([TRIGGER]);
      expect(pd.accepted[0]!.body.routing_key).toBe(KEY);
    } finally {
      p.remove();
    }
  });

  it('a key file other users can write is refused in check and test-alert (78), naming the file and the fix', async () => {
    const pd = await startStandIn();
    const p = await registered({ eventsUrl: pd.url, routingKeyFile: 'pd.key' }, {});
    try {
      const file = join(p.dir, 'pd.key');
      writeFileSync(file, `${KEY}\n`, { mode: 0o666 });
      const { chmodSync } = await import('node:fs');
      chmodSync(file, 0o666);
      for (const args of [['check'], ['test-alert']]) {
        const res = await p.run(args, { at: DOWN });
        expect(res.code, args.join(' ')).toBe(78);
        expect(res.stderr).toContain(`file ${file} is not safe to read a routing key from: every user on this machine can write it`);
        expect(res.stderr).toContain(`chmod 600 ${file}`);
      }
      expect(pd.requests).toEqual([]);
    } finally {
      p.remove();
    }
  });
});
