/**
 * [targets] deliverPending over a real temp SQLite store with Slack and webhook targets beside
 * PagerDuty, through a fake poster (the requests Slack and webhooks get) and a fake PagerDuty
 * sender, with injected clocks: routing by priority, one outbox for all three, a Slack message's
 * receipt kept with its trigger and used by its resolve (and never a forged one), refusals kept per
 * target, secrets hidden in what a job printed before any target sees it.
 */
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { undeliveredError } from '../../src/commands/check.js';
import { buildConfig, type Config } from '../../src/config.js';
import { EXIT } from '../../src/errors.js';
import { deliverPending, type DeliveryReport } from '../../src/notify/deliver.js';
import type { Answered, SendResult } from '../../src/notify/http.js';
import { configKeys } from '../../src/notify/keys.js';
import type { OutboundRequest } from '../../src/notify/outbound.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { TriggerFacts } from '../../src/store/types.js';
import { query, tempDir } from '../helpers/db.js';

const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const TOKEN = 'xoxb-1111111111-2222222222-abcdefghijklmnopqrstuvwx';
const OTHER_TOKEN = 'xoxb-3333333333-4444444444-abcdefghijklmnopqrstuvwx';
const SLACK_URL = 'http://127.0.0.1:9/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX';
const SECRET = 'whsec-0123456789abcdef0123456789abcdef';
const MIN = 60_000;
const T0 = Date.parse('2026-11-26T12:00:00Z');

type Reply = Answered | { error: string; status: number | null };
const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answered => ({ status, headers: { 'content-type': 'application/json', ...headers }, text: JSON.stringify(body) });
const text = (status: number, body: string, headers: Record<string, string> = {}): Answered => ({ status, headers, text: body });

function world(raw: Record<string, unknown>) {
  const dir = tempDir('medic-deliver-targets-');
  const path = join(dir, 'medic.db');
  const store = openSqliteStore(path);
  const file = join(dir, 'medic.config.json');
  const make = (r: Record<string, unknown>): Config => buildConfig({ checker: { gapThreshold: '30d' }, ...r }, file, { env: {}, cwd: '/' });
  const w = {
    dir,
    store,
    config: make(raw),
    env: { PAGERDUTY_ROUTING_KEY: KEY, SLACK_TOKEN: TOKEN, SLACK_URL, HOOK_SECRET: SECRET } as NodeJS.ProcessEnv,
    wall: T0,
    mono: 0,
    pd: [] as Record<string, unknown>[],
    posts: [] as (OutboundRequest & { json: Record<string, unknown> })[],
    /** How the fake Slack/receiver answers each request (the default: Slack's and a receiver's "ok"). */
    reply: (req: OutboundRequest): Reply => {
      if (req.url.includes('/api/chat.')) return json(200, { ok: true, channel: 'C0SLACK01', ts: '1764158400.000100' });
      if (req.url.startsWith('http://127.0.0.1:9/services/')) return text(200, 'ok');
      return text(200, '');
    },
    reconfigure(r: Record<string, unknown>) {
      w.config = make(r);
    },
    async down(slug: string, facts: Partial<TriggerFacts> = {}) {
      await store.register([slug], T0 - 60 * MIN);
      const s = (await store.services()).find((x) => x.slug === slug)!;
      const spec = w.config.bySlug.get(slug)!;
      await store.applyTransitions(
        [{ slug, version: s.version, from: 'up', to: 'down', at: T0 - MIN, reason: 'test', beatSeq: s.beatSeq, incidentId: null,
          events: spec.targets.map((target) => ({ target, action: 'trigger', dedupKey: `medic-heartbeat-${slug}`, facts: { downAt: T0 - 43 * MIN, lastBeatAt: T0 - 50 * MIN, missedHeartbeats: 1, ...facts } })) }],
        w.wall,
      );
    },
    async up(slug: string) {
      const s = (await store.services()).find((x) => x.slug === slug)!;
      await store.applyTransitions([{ slug, version: s.version, from: 'down', to: 'up', at: w.wall, reason: 'test', beatSeq: s.beatSeq, incidentId: s.incidentId, events: 'resolve-sent-triggers' }], w.wall);
    },
    deliver(keysToHide: string[] = []): Promise<DeliveryReport> {
      return deliverPending(
        {
          config: w.config,
          store,
          env: w.env,
          uid: process.getuid?.() ?? null,
          host: 'checker-1',
          keysToHide,
          now: () => w.wall,
          monotonic: () => w.mono,
          random: () => 0.5,
          sleep: async (ms) => {
            w.mono += ms;
            w.wall += ms;
          },
          send: async (_url, body): Promise<SendResult> => {
            w.pd.push(body);
            return { ok: true, status: 202, answer: { status: 'success' } };
          },
          post: async (req) => {
            w.posts.push({ ...req, json: JSON.parse(req.body) as Record<string, unknown> });
            return w.reply(req);
          },
        },
        { budgetMs: 40_000, concurrency: 8 },
      );
    },
    outbox: () => query<{ target: string; action: string; status: string; receipt: string | null }>(path, 'SELECT target, action, status, receipt FROM outbox ORDER BY id'),
  };
  return w;
}

const THREE = {
  targets: {
    oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue', priorities: ['P1', 'P2'] },
    chat: { type: 'slack', webhookUrlEnv: 'SLACK_URL' },
    hook: { type: 'webhook', url: 'http://127.0.0.1:9/hook', secretEnv: 'HOOK_SECRET', priorities: ['p3', 'P4'] },
  },
  defaults: { targets: ['oncall', 'chat', 'hook'] },
  services: [
    { slug: 'db-backup', name: 'DB backup', priority: 'P1' },
    { slug: 'report', name: 'Weekly report', priority: 'P3' },
  ],
};

describe('deliverPending: Slack and webhook targets beside PagerDuty', () => {
  it('a service pages only the targets that take its priority: P1 to PagerDuty and Slack, P3 to Slack and the webhook', async () => {
    const w = world(THREE);
    expect(w.config.bySlug.get('db-backup')!.targets).toEqual(['oncall', 'chat']);
    expect(w.config.bySlug.get('report')!.targets).toEqual(['chat', 'hook']);
    await w.down('db-backup');
    await w.down('report');
    const report = await w.deliver();
    expect(report.deferred).toEqual([]);
    expect(report.delivered.map((e) => `${e.slug}→${e.target}`).sort()).toEqual(['db-backup→chat', 'db-backup→oncall', 'report→chat', 'report→hook']);
    expect(w.pd.map((b) => b.dedup_key)).toEqual(['medic-heartbeat-db-backup']);
    expect(w.posts.filter((p) => p.url === 'http://127.0.0.1:9/hook')).toHaveLength(1);
    expect(w.posts.filter((p) => p.url === SLACK_URL)).toHaveLength(2);
    // Each secret goes only where it belongs, and is hidden in any error text the poster could make.
    const hook = w.posts.find((p) => p.url === 'http://127.0.0.1:9/hook')!;
    expect(hook.hide).toContain(SECRET);
    expect(hook.body).not.toContain(SECRET);
    expect(w.posts.find((p) => p.url === SLACK_URL)!.hide).toContain(SLACK_URL);
  });

  it('resolves go to exactly the targets that got the trigger, each after its own trigger', async () => {
    const w = world(THREE);
    await w.down('report');
    await w.deliver();
    w.wall += 42 * MIN;
    await w.up('report');
    const report = await w.deliver();
    expect(report.delivered.map((e) => `${e.action}→${e.target}`).sort()).toEqual(['resolve→chat', 'resolve→hook']);
    expect(w.pd).toEqual([]);
    expect(w.outbox().map((r) => `${r.action} ${r.target} ${r.status}`)).toEqual(['trigger chat delivered', 'trigger hook delivered', 'resolve chat delivered', 'resolve hook delivered']);
  });

  it('a Slack message posted with a bot token keeps its receipt with the trigger; the resolve edits that message and replies in its thread', async () => {
    const w = world({ targets: { chat: { type: 'slack', tokenEnv: 'SLACK_TOKEN', channel: '#alerts', apiUrl: 'http://127.0.0.1:9/api' } }, services: [{ slug: 'job' }] });
    await w.down('job');
    await w.deliver();
    const [trigger] = w.outbox();
    expect(trigger).toMatchObject({ action: 'trigger', status: 'delivered' });
    expect(JSON.parse(trigger!.receipt!)).toMatchObject({ channel: 'C0SLACK01', ts: '1764158400.000100' });
    expect(trigger!.receipt).not.toContain(TOKEN);
    expect(w.posts[0]!.headers.authorization ?? w.posts[0]!.headers.Authorization).toBe(`Bearer ${TOKEN}`);
    w.posts.length = 0;
    await w.up('job');
    const report = await w.deliver();
    expect(report.delivered.map((e) => e.action)).toEqual(['resolve']);
    expect(w.posts.map((p) => p.url)).toEqual(['http://127.0.0.1:9/api/chat.update', 'http://127.0.0.1:9/api/chat.postMessage']);
    expect(w.posts[0]!.json).toMatchObject({ channel: 'C0SLACK01', ts: '1764158400.000100' });
    expect(w.posts[1]!.json).toMatchObject({ channel: 'C0SLACK01', thread_ts: '1764158400.000100' });
  });

  it('a receipt planted in the database (another channel and message) is never used to edit anything: the resolve is a new message', async () => {
    const w = world({ targets: { chat: { type: 'slack', tokenEnv: 'SLACK_TOKEN', channel: '#alerts', apiUrl: 'http://127.0.0.1:9/api' } }, services: [{ slug: 'job' }] });
    await w.down('job');
    await w.deliver();
    const forged = JSON.stringify({ v: 1, channel: 'C0CEO0001', ts: '1700000000.000100', mac: '0'.repeat(64) });
    const db = new Database(join(w.dir, 'medic.db'));
    db.prepare("UPDATE outbox SET receipt = ? WHERE action = 'trigger'").run(forged);
    db.close();
    w.posts.length = 0;
    await w.up('job');
    await w.deliver();
    expect(w.posts.map((p) => p.url)).toEqual(['http://127.0.0.1:9/api/chat.postMessage']);
    expect(w.posts[0]!.json.channel).toBe('#alerts');
    expect(w.posts[0]!.json.thread_ts).toBeUndefined();
    expect(JSON.stringify(w.posts)).not.toContain('C0CEO0001');
  });

  it('Slack refusing (HTTP 200, ok false, not_in_channel) is never delivered: kept queued (76) until the token changes, while PagerDuty goes on', async () => {
    const w = world({
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' }, chat: { type: 'slack', tokenEnv: 'SLACK_TOKEN', channel: 'C0123ABCD', apiUrl: 'http://127.0.0.1:9/api' } },
      defaults: { targets: ['oncall', 'chat'] },
      services: [{ slug: 'job' }],
    });
    w.reply = () => json(200, { ok: false, error: 'not_in_channel' });
    await w.down('job');
    const first = await w.deliver();
    expect(first.delivered.map((e) => e.target)).toEqual(['oncall']);
    expect(first.deferred).toHaveLength(1);
    expect(first.deferred[0]!.reason).toMatchObject({ kind: 'refused', target: 'chat', type: 'slack', fresh: true });
    expect(JSON.stringify(first.deferred[0]!.reason)).toContain('not_in_channel');
    const error = undeliveredError(first, w.config.targets)!;
    expect(error.exitCode).toBe(EXIT.rejected);
    expect(error.message).toContain('Slack refused the trigger for job (target chat, HTTP 200)');
    expect(`${error.message}\n${error.hint}`).not.toContain(TOKEN);
    // Not sent again while the token is the same...
    const again = await w.deliver();
    expect(w.posts).toHaveLength(1);
    expect(again.deferred[0]!.reason).toMatchObject({ kind: 'refused', fresh: false });
    // ...and sent again once it changed.
    w.env.SLACK_TOKEN = OTHER_TOKEN;
    w.reply = () => json(200, { ok: true, channel: 'C0123ABCD', ts: '1764158400.000200' });
    const fixed = await w.deliver();
    expect(fixed.delivered.map((e) => e.target)).toEqual(['chat']);
    expect(w.posts).toHaveLength(2);
  });

  it('a Slack refusal cured where Medic cannot see it (the bot invited to the channel) is tried again after 10 minutes, not before', async () => {
    const w = world({
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' }, chat: { type: 'slack', tokenEnv: 'SLACK_TOKEN', channel: 'C0123ABCD', apiUrl: 'http://127.0.0.1:9/api' } },
      defaults: { targets: ['oncall', 'chat'] },
      services: [{ slug: 'job' }],
    });
    w.reply = () => json(200, { ok: false, error: 'not_in_channel' });
    await w.down('job');
    await w.deliver();
    expect(w.posts).toHaveLength(1);
    w.reply = () => json(200, { ok: true, channel: 'C0123ABCD', ts: '1764158400.000300' });
    w.wall += 10 * MIN - 1;
    expect((await w.deliver()).deferred[0]!.reason).toMatchObject({ kind: 'refused', fresh: false });
    expect(w.posts).toHaveLength(1);
    w.wall += 1;
    expect((await w.deliver()).delivered.map((e) => e.target)).toEqual(['chat']);
    expect(w.posts).toHaveLength(2);
  });

  it('a webhook receiver failing (500) is retried within the run; a 400 is kept refused until the secret changes', async () => {
    const w = world({ targets: { hook: { type: 'webhook', url: 'http://127.0.0.1:9/hook', secretEnv: 'HOOK_SECRET' } }, services: [{ slug: 'job' }, { slug: 'other' }] });
    const answers: Reply[] = [text(500, 'oops'), text(204, '')];
    w.reply = () => answers.shift() ?? text(400, 'bad event');
    await w.down('job');
    const first = await w.deliver();
    expect(first.delivered.map((e) => e.slug)).toEqual(['job']);
    expect(w.posts).toHaveLength(2);
    // Both attempts carried the same event id: a receiver drops the repeat.
    expect(w.posts[0]!.json.id).toBe(w.posts[1]!.json.id);
    await w.down('other');
    const second = await w.deliver();
    expect(second.deferred[0]!.reason).toMatchObject({ kind: 'refused', target: 'hook', type: 'webhook', status: 400 });
    w.env.HOOK_SECRET = 'whsec-another-secret-0123456789';
    w.reply = () => text(200, 'thanks');
    expect((await w.deliver()).delivered.map((e) => e.slug)).toEqual(['other']);
  });

  it('a missing Slack token keeps Slack\'s events queued (78) and names the variable, never a value; the webhook still gets its event', async () => {
    const w = world({
      targets: { chat: { type: 'slack', tokenEnv: 'SLACK_TOKEN', channel: 'C0123ABCD', apiUrl: 'http://127.0.0.1:9/api' }, hook: { type: 'webhook', url: 'http://127.0.0.1:9/hook', secretEnv: 'HOOK_SECRET' } },
      defaults: { targets: ['chat', 'hook'] },
      services: [{ slug: 'job' }],
    });
    delete w.env.SLACK_TOKEN;
    await w.down('job');
    const report = await w.deliver();
    expect(report.delivered.map((e) => e.target)).toEqual(['hook']);
    expect(report.deferred[0]!.reason).toMatchObject({ kind: 'missing-key', target: 'chat' });
    expect(undeliveredError(report, w.config.targets)!.exitCode).toBe(EXIT.config);
    expect(undeliveredError(report, w.config.targets)!.message).toContain('SLACK_TOKEN');
  });

  it('every target\'s secret a job printed is hidden before any target gets the failure (the Slack URL, the token, the signing secret, a routing key)', async () => {
    const w = world({
      targets: {
        chat: { type: 'slack', webhookUrlEnv: 'SLACK_URL' },
        bot: { type: 'slack', tokenEnv: 'SLACK_TOKEN', channel: 'C0123ABCD', apiUrl: 'http://127.0.0.1:9/api' },
        hook: { type: 'webhook', url: 'http://127.0.0.1:9/hook', secretEnv: 'HOOK_SECRET' },
      },
      defaults: { targets: ['chat', 'bot', 'hook'] },
      services: [{ slug: 'job' }],
    });
    const path = new URL(SLACK_URL).pathname;
    const printed = [
      `curl ${SLACK_URL} -H 'Authorization: Bearer ${TOKEN}' --secret ${SECRET} key=${KEY}`,
      `> POST ${path} HTTP/1.1`,
      `json=${SLACK_URL.replaceAll('/', '\\/')} enc=${encodeURIComponent(SLACK_URL)}`,
    ].join('\n');
    // The tail was cut inside the signing secret (the job's user could not read it to hide it first).
    await w.down('job', { reason: 'failed', exitCode: 1, message: printed, outputTail: `${SECRET.slice(1)}\n${printed}` });
    const hide = configKeys(w.config.targets.values(), w.env, process.getuid!());
    const report = await w.deliver(hide);
    expect(report.delivered).toHaveLength(3);
    const sent = w.posts.map((p) => p.body).join('\n');
    for (const secret of [SLACK_URL, TOKEN, SECRET, KEY, path, 'XXXXXXXXXXXXXXXXXXXXXXXX', SECRET.slice(1)]) expect(sent).not.toContain(secret);
    expect(sent).toContain('curl');
    expect(sent).toContain('POST <secret> HTTP/1.1');
  });

  it('a secret file for a webhook is read at send time: a fix to the file releases what is queued', async () => {
    const w = world({ targets: { hook: { type: 'webhook', url: 'http://127.0.0.1:9/hook', secretFile: 'hook.secret' } }, services: [{ slug: 'job' }] });
    w.reconfigure({ targets: { hook: { type: 'webhook', url: 'http://127.0.0.1:9/hook', secretFile: join(w.dir, 'hook.secret') } }, services: [{ slug: 'job' }] });
    writeFileSync(join(w.dir, 'hook.secret'), 'short\n', { mode: 0o600 });
    await w.down('job');
    const first = await w.deliver();
    expect(first.deferred[0]!.reason).toMatchObject({ kind: 'bad-key', target: 'hook' });
    expect(JSON.stringify(first.deferred[0]!.reason)).not.toContain('short');
    writeFileSync(join(w.dir, 'hook.secret'), `${SECRET}\n`, { mode: 0o600 });
    expect((await w.deliver()).delivered).toHaveLength(1);
  });
});
