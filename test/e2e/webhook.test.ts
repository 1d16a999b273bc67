/**
 * The signed webhook target end to end: the real `bin/medic` against a receiver on 127.0.0.1 that
 * verifies every signature and drops repeated event ids (test/helpers/webhook-receiver.ts), and
 * the Node verifier of docs/webhooks.md run against real requests, so that page cannot rot.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { signBody } from '../../src/notify/webhook.js';
import { statusBySlug, tempProject, type CliResult, type Project } from '../helpers/cli.js';
import { closedAfterEach } from '../helpers/standins.js';
import { startWebhookReceiver, WEBHOOK_PATH, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const SECRET = 'medic-e2e-signing-secret-000001';
const NEW_SECRET = 'medic-e2e-signing-secret-000002';
const MIN = 60_000;
const R = Date.parse('2026-03-02T09:00:00Z');
/** Registered at R with interval 5m and grace 1m: down from R + 6m. */
const DOWN = R + 6 * MIN;
const QUIET = { code: 0, stdout: '', stderr: '' };
const iso = (ms: number) => new Date(ms).toISOString();

const track = closedAfterEach();
const projects: Project[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.remove();
});

const SERVICE = { slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P2', interval: '5m', grace: '1m' };

function configFor(url: string, extra: Record<string, unknown> = {}) {
  return {
    checker: { gapThreshold: '30d', deliveryBudget: '4s' },
    targets: { hook: { type: 'webhook', url, secretFile: 'secrets/hook', ...extra } },
    services: [SERVICE],
  };
}

/** A project whose one target is the webhook `url`, its secret in secrets/hook (mode 600); every run's output kept in `outputs`. */
function projectFor(url: string, extra: Record<string, unknown> = {}): Project & { outputs: CliResult[]; setSecret(s: string): void } {
  const p = tempProject(configFor(url, extra));
  projects.push(p);
  mkdirSync(join(p.dir, 'secrets'));
  const setSecret = (s: string) => writeFileSync(join(p.dir, 'secrets', 'hook'), `${s}\n`, { mode: 0o600 });
  setSecret(SECRET);
  const outputs: CliResult[] = [];
  const run = p.run.bind(p);
  return Object.assign(p, {
    outputs,
    setSecret,
    run: async (args: string[], opts?: Parameters<Project['run']>[1]) => {
      const res = await run(args, opts);
      outputs.push(res);
      return res;
    },
  });
}

/** Registers the service at R (nothing due, nothing sent); the receiver's clock follows the checks' instants. */
async function registered(hook: WebhookReceiver, extra: Record<string, unknown> = {}) {
  const p = projectFor(hook.url, extra);
  expect(await p.run(['check'], { at: R, frozen: true })).toEqual(QUIET);
  return p;
}

/** At `at` (a running clock from there): the receiver's clock too, so the signature is fresh to it. */
const checkAt = (p: Project, hook: WebhookReceiver, at: number, args: string[] = []) => {
  hook.now = () => at;
  return p.run(['check', ...args], { at });
};

/** Every byte of the database files (main file, WAL, journal), lower-cased. */
function databaseBytes(p: Project): string {
  return readdirSync(p.dir)
    .filter((f) => f.startsWith('medic.db'))
    .map((f) => readFileSync(join(p.dir, f)).toString('latin1'))
    .join('\n')
    .toLowerCase();
}

/** The secrets in no run's output, and (with `db`) in no byte of the database, which must exist. */
function expectSecretNowhere(p: Project & { outputs: CliResult[] }, secrets: string[], db = true) {
  const bytes = databaseBytes(p);
  if (db) expect(bytes.length).toBeGreaterThan(0);
  for (const s of secrets) {
    expect(bytes).not.toContain(s.toLowerCase());
    for (const out of p.outputs) expect(`${out.stdout}${out.stderr}`.toLowerCase()).not.toContain(s.toLowerCase());
  }
}

describe('a signed webhook target', { timeout: 180_000 }, () => {
  it('down: one signed trigger with the documented body; up: a signed resolve of the same incident', async () => {
    const hook = await track(startWebhookReceiver(SECRET));
    const p = await registered(hook);

    expect(await checkAt(p, hook, DOWN)).toEqual(QUIET);
    expect(hook.rejects).toEqual([]);
    expect(hook.events).toHaveLength(1);
    const trigger = hook.events[0]!;
    expect(trigger.method).toBe('POST');
    expect(trigger.path).toBe(WEBHOOK_PATH);
    expect(trigger.headers['content-type']).toBe('application/json');
    expect(trigger.headers['x-medic-event']).toBe('trigger');
    expect(trigger.headers['x-medic-event-id']).toBe(trigger.body.id);
    const t = Number(/^t=(\d+),v1=[0-9a-f]{64}$/.exec(String(trigger.headers['x-medic-signature']))![1]);
    expect(t).toBeGreaterThanOrEqual(DOWN / 1000);
    expect(t).toBeLessThan(DOWN / 1000 + 60);
    expect(trigger.body).toEqual({
      version: 1,
      id: expect.stringMatching(/^evt_[0-9a-f]{40}$/),
      event: 'trigger',
      sent_at: expect.stringMatching(/^2026-03-02T09:06:\d\d\.\d{3}Z$/),
      summary: 'Heartbeat failure: Nightly Backup',
      severity: 'error',
      service: { slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P2', runbook_url: null },
      incident: { id: expect.any(Number), dedup_key: 'medic-heartbeat-nightly-backup', opened_at: iso(DOWN), resolved_at: null },
      reason: 'missed',
      details: {
        service_slug: 'nightly-backup',
        team: 'platform',
        priority: 'P2',
        missed_heartbeats: 1,
        last_seen: null,
        threshold: { interval: '5m', grace: '1m', missed_heartbeats: 1 },
        reason: 'missed',
      },
      host: expect.any(String),
    });
    expect(Object.keys(trigger.body)).toEqual(['version', 'id', 'event', 'sent_at', 'summary', 'severity', 'service', 'incident', 'reason', 'details', 'host']);

    // Still down: nothing more.
    expect(await checkAt(p, hook, DOWN + MIN)).toEqual(QUIET);
    expect(hook.requests).toHaveLength(1);

    expect((await p.run(['beat', 'nightly-backup'], { at: DOWN + 2 * MIN })).code).toBe(0);
    expect(await checkAt(p, hook, DOWN + 3 * MIN)).toEqual(QUIET);
    expect(hook.rejects).toEqual([]);
    expect(hook.events).toHaveLength(2);
    const resolve = hook.events[1]!;
    expect(resolve.headers['x-medic-event']).toBe('resolve');
    expect(resolve.body).toMatchObject({
      event: 'resolve',
      summary: 'Recovered: Nightly Backup',
      incident: { id: trigger.body.incident.id, dedup_key: 'medic-heartbeat-nightly-backup', opened_at: iso(DOWN) },
      reason: null,
      details: null,
    });
    expect(Date.parse(resolve.body.incident.resolved_at)).toBeGreaterThanOrEqual(DOWN + 3 * MIN);
    expect(Date.parse(resolve.body.incident.resolved_at)).toBeLessThan(DOWN + 4 * MIN);
    expect(resolve.body.id).not.toBe(trigger.body.id);
    expect(hook.repeats).toBe(0);
    expect((await statusBySlug(p, { at: DOWN + 4 * MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 0, incidentOpen: false });
    expectSecretNowhere(p, [SECRET]);
  });

  it('500 then 200: delivered once, after a retry in the same run, with the same event id', async () => {
    const hook = await track(startWebhookReceiver(SECRET));
    hook.replyQueue({ status: 500, body: 'upstream down' });
    const p = await registered(hook);
    expect(await checkAt(p, hook, DOWN)).toEqual(QUIET);
    expect(hook.requests.map((r) => r.status)).toEqual([500, 200]);
    expect(hook.requests[1]!.body.id).toBe(hook.requests[0]!.body.id);
    expect(hook.events).toHaveLength(1);
    expect(hook.rejects).toEqual([]);
  });

  it('an answer slower than the timeout: sent again with the same id, which the receiver drops as a repeat', async () => {
    const hook = await track(startWebhookReceiver(SECRET));
    hook.replyQueue({ status: 200, delayMs: 2_500 });
    const p = await registered(hook, { timeout: '1s' });
    expect(await checkAt(p, hook, DOWN)).toEqual(QUIET);
    expect(hook.requests).toHaveLength(2);
    expect(hook.requests[1]!.body.id).toBe(hook.requests[0]!.body.id);
    // Each attempt is signed anew.
    expect(hook.requests[1]!.rawBody).not.toBe(hook.requests[0]!.rawBody);
    expect(hook.events).toHaveLength(1);
    expect(hook.repeats).toBe(1);
  });

  it('429 with Retry-After, then 503 for the rest of the run: exit 75, kept queued; the next check delivers it', async () => {
    const hook = await track(startWebhookReceiver(SECRET));
    let failing = true;
    hook.replyQueue({ status: 429, headers: { 'retry-after': '1' } });
    hook.reply(() => (failing ? 503 : 200));
    const p = await registered(hook);
    const first = await checkAt(p, hook, DOWN);
    expect(first.code).toBe(75);
    expect(first.stderr).toContain('HTTP 503');
    expect(hook.events).toEqual([]);
    expect(hook.requests.map((r) => r.status).slice(0, 2)).toEqual([429, 503]);
    // The 429 held the next attempt back for its Retry-After (1s).
    expect(hook.requests[1]!.at - hook.requests[0]!.at).toBeGreaterThanOrEqual(900);
    expect((await statusBySlug(p, { at: DOWN + 30_000 })).get('nightly-backup')).toMatchObject({ pendingEvents: 1 });
    failing = false;
    expect(await checkAt(p, hook, DOWN + MIN)).toEqual(QUIET);
    expect(hook.events).toHaveLength(1);
    expect(new Set(hook.requests.map((r) => r.body.id)).size).toBe(1);
  });

  it('400: exit 76 at every check, kept queued and not sent again; a new secret in the file sends it; the secret is in no output and no database byte', async () => {
    const hook = await track(startWebhookReceiver(SECRET));
    // A hostile receiver quotes the secret back: it must not reach the terminal or the database.
    hook.replyQueue({ status: 400, body: `missing field "team"; your secret is ${SECRET.toUpperCase()}` });
    const p = await registered(hook);

    const first = await checkAt(p, hook, DOWN);
    expect(first.code).toBe(76);
    expect(first.stderr).toContain('The webhook receiver refused the trigger for nightly-backup (target hook, HTTP 400)');
    expect(first.stderr).toContain('missing field \\"team\\"; your secret is <secret>');
    expect(first.stderr).toContain("the receiver refused the event's content");
    expect(first.stderr).toContain('medic check --retry-refused');
    const second = await checkAt(p, hook, DOWN + MIN);
    expect(second.code).toBe(76);
    expect(hook.requests).toHaveLength(1); // nothing changed: not sent again
    expect((await statusBySlug(p, { at: DOWN + MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 1, delivery: 'refused' });

    // The same secret again (rewritten, unchanged): still held.
    p.setSecret(SECRET);
    expect((await checkAt(p, hook, DOWN + 2 * MIN)).code).toBe(76);
    expect(hook.requests).toHaveLength(1);

    // A new secret (given to the receiver too) is a new fingerprint: sent, verified with it.
    p.setSecret(NEW_SECRET);
    hook.secret = NEW_SECRET;
    expect(await checkAt(p, hook, DOWN + 3 * MIN)).toEqual(QUIET);
    expect(hook.rejects).toEqual([]);
    expect(hook.events).toHaveLength(1);
    expect(hook.events[0]!.body.id).toBe(hook.requests[0]!.body.id);
    expect((await statusBySlug(p, { at: DOWN + 3 * MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 0, delivery: 'sent' });
    expectSecretNowhere(p, [SECRET, NEW_SECRET]);
  });

  it('400, then medic check --retry-refused sends it again with nothing changed', async () => {
    const hook = await track(startWebhookReceiver(SECRET));
    hook.replyQueue(422);
    const p = await registered(hook);
    expect((await checkAt(p, hook, DOWN)).code).toBe(76);
    expect((await checkAt(p, hook, DOWN + MIN)).code).toBe(76);
    expect(hook.requests).toHaveLength(1);
    expect(await checkAt(p, hook, DOWN + 2 * MIN, ['--retry-refused'])).toEqual(QUIET);
    expect(hook.requests).toHaveLength(2);
    expect(hook.events).toHaveLength(1);
  });

  it('a receiver with another secret answers 401: exit 76, the hint names where Medic reads its secret', async () => {
    const hook = await track(startWebhookReceiver('the-receivers-own-secret-value'));
    const p = await registered(hook);
    const res = await checkAt(p, hook, DOWN);
    expect(res.code).toBe(76);
    expect(hook.rejects.map((r) => r.reason)).toEqual(['signature does not match']);
    expect(res.stderr).toContain('(target hook, HTTP 401)');
    expect(res.stderr).toContain(`the receiver did not accept the signature: give it the same secret as file ${join(p.dir, 'secrets', 'hook')}`);
  });

  it('a redirect is never followed: exit 76, the place it points to gets nothing', async () => {
    const elsewhere = await track(startWebhookReceiver(SECRET));
    const hook = await track(startWebhookReceiver(SECRET));
    hook.reply(() => ({ status: 307, headers: { location: elsewhere.url } }));
    const p = await registered(hook);
    const res = await checkAt(p, hook, DOWN);
    expect(res.code).toBe(76);
    expect(res.stderr).toContain(`(target hook, HTTP 307): "a redirect to ${elsewhere.url}, not followed — {\\"ok\\":false}"`);
    expect(res.stderr).toContain(`check targets.hook.url (${hook.url})`);
    hook.now = () => Date.now();
    const alert = await p.run(['test-alert', '--target', 'hook']);
    expect(alert.code).toBe(76);
    expect(alert.stderr).toContain(`refused the test alert (HTTP 307): a redirect to ${elsewhere.url}, not followed`);
    expect(hook.requests).toHaveLength(2);
    expect(elsewhere.requests).toEqual([]);
  });
});

describe('medic test-alert --target <webhook>', { timeout: 120_000 }, () => {
  it('sends a signed test event (and its resolve) and prints the receiver\'s answer', async () => {
    const hook = await track(startWebhookReceiver(SECRET));
    hook.reply(() => ({ status: 200, body: '{"received":true}' }));
    const p = projectFor(hook.url);
    const trigger = await p.run(['test-alert', '--target', 'hook']);
    expect(trigger).toEqual({ code: 0, stdout: 'hook: test alert sent — the webhook receiver answered HTTP 200: {"received":true}\n', stderr: '' });
    const resolve = await p.run(['test-alert', '--target', 'hook', '--resolve']);
    expect(resolve).toEqual({ code: 0, stdout: 'hook: test resolve sent — the webhook receiver answered HTTP 200: {"received":true}\n', stderr: '' });
    expect(hook.rejects).toEqual([]);
    expect(hook.events.map((e) => [e.body.event, e.body.test, e.body.service.slug, e.body.service.team])).toEqual([
      ['trigger', true, 'test-service', 'test-team'],
      ['resolve', true, 'test-service', 'test-team'],
    ]);
    expectSecretNowhere(p, [SECRET], false);
  });

  it('a refusal: exit 76 with the receiver\'s words; a 503 three times: exit 75', async () => {
    const hook = await track(startWebhookReceiver(SECRET));
    const p = projectFor(hook.url);
    hook.replyQueue({ status: 404, body: 'no such hook' });
    const refused = await p.run(['test-alert', '--target', 'hook']);
    expect(refused.code).toBe(76);
    expect(refused.stderr).toContain('the webhook receiver refused the test alert (HTTP 404): no such hook');
    expect(refused.stderr).toContain(`check targets.hook.url (${hook.url})`);
    hook.replyQueue(503, 503, 503);
    const failing = await p.run(['test-alert', '--target', 'hook']);
    expect(failing.code).toBe(75);
    expect(hook.requests.slice(1).map((r) => r.status)).toEqual([503, 503, 503]);
  });
});

describe('the Node verifier in docs/webhooks.md', { timeout: 120_000 }, () => {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/webhooks.md', import.meta.url)), 'utf8');
  const blocks = [...doc.matchAll(/^```js\n([^]*?)^```$/gm)].map((m) => m[1]!);
  const verifier = blocks.find((b) => b.includes('function verifyMedic'));
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is the one the README shows', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const shown = [...readme.matchAll(/^```js\n([^]*?)^```$/gm)].map((m) => m[1]!).find((b) => b.includes('function verifyMedic'));
    expect(shown).toBeDefined();
    expect(shown).toBe(verifier);
  });

  it('is about ten lines, and accepts what medic sends, and nothing tampered, re-signed with another secret, or stale', async () => {
    expect(verifier).toBeDefined();
    expect(verifier!.trim().split('\n').length).toBeLessThanOrEqual(12);
    dir = mkdtempSync(join(tmpdir(), 'medic-doc-verifier-'));
    const file = join(dir, 'verifier.mjs');
    writeFileSync(file, `${verifier}\nexport { verifyMedic };\n`);
    const { verifyMedic } = (await import(pathToFileURL(file).href)) as {
      verifyMedic: (secret: string, header: string | undefined, raw: Buffer | string, tolerance?: number) => boolean;
    };

    const hook = await track(startWebhookReceiver(SECRET));
    const p = projectFor(hook.url);
    expect((await p.run(['test-alert', '--target', 'hook'])).code).toBe(0);
    const [sent] = hook.requests;
    const header = String(sent!.headers['x-medic-signature']);
    const raw = Buffer.from(sent!.rawBody, 'utf8');

    expect(verifyMedic(SECRET, header, raw)).toBe(true);
    expect(verifyMedic(SECRET, header, sent!.rawBody)).toBe(true);
    expect(verifyMedic(SECRET, header, sent!.rawBody.replace('"test":true', '"test":false'))).toBe(false);
    expect(verifyMedic(SECRET, header, Buffer.concat([raw, Buffer.from(' ')]))).toBe(false);
    expect(verifyMedic('another-secret-of-16-chars-or-more', header, raw)).toBe(false);
    expect(verifyMedic(SECRET, undefined, raw)).toBe(false);
    expect(verifyMedic(SECRET, 'garbage', raw)).toBe(false);
    const now = Math.floor(Date.now() / 1000);
    expect(verifyMedic(SECRET, signBody(SECRET, sent!.rawBody, now), raw)).toBe(true);
    expect(verifyMedic(SECRET, signBody(SECRET, sent!.rawBody, now - 301), raw)).toBe(false);
    expect(verifyMedic(SECRET, signBody(SECRET, sent!.rawBody, now + 301), raw)).toBe(false);
  });
});
