/**
 * src/notify/slack.ts: the message (escaping, Slack's limits, what a trigger and a resolve say) as
 * tables; what Slack's answers mean; receipts and forged ones; the requests a send makes, against
 * the Slack stand-in through the real poster.
 */
import { describe, expect, it } from 'vitest';
import type { SlackTarget } from '../../src/config.js';
import type { ServiceSpec } from '../../src/core/service.js';
import { httpPoster } from '../../src/notify/http.js';
import type { Outgoing } from '../../src/notify/outbound.js';
import {
  escapeMrkdwn,
  judgeApiAnswer,
  judgeWebhookAnswer,
  makeReceipt,
  readReceipt,
  resolveMessage,
  sendSlack,
  slackRefusalHint,
  slackTest,
  SLACK_LIMITS,
  triggerMessage,
  type Block,
  type SlackMessage,
} from '../../src/notify/slack.js';
import { closedAfterEach } from '../helpers/standins.js';
import { ALERTS, apiError, blockProblem, BOT_TOKEN, rateLimited, startSlackServer, webhookError, type SlackServer } from '../helpers/slack-server.js';

const NOW = Date.parse('2026-03-02T10:00:00Z');
const DOWN = Date.parse('2026-03-02T09:06:00Z');
const MIN = 60_000;
const post = httpPoster({});
const track = closedAfterEach();
const slack = (): Promise<SlackServer> => track(startSlackServer());

const SPEC: ServiceSpec = {
  slug: 'nightly-backup',
  name: 'Nightly Backup',
  team: 'platform',
  priority: 'P2',
  intervalMs: 5 * MIN,
  schedule: null,
  graceMs: MIN,
  threshold: 1,
  runbook: 'https://wiki.example.com/runbooks/backup',
  severity: null,
  targets: ['chat'],
  maxRuntimeMs: 2 * 60 * MIN,
  outputTailBytes: 4096,
};

function target(over: Partial<SlackTarget> = {}): SlackTarget {
  return { name: 'chat', type: 'slack', mode: 'token', secret: 'env:SLACK_BOT_TOKEN', channel: ALERTS.id, apiUrl: 'http://127.0.0.1:9/api', priorities: null, severity: null, timeoutMs: 3000, ...over };
}

function outgoing(over: Partial<Outgoing<SlackTarget>> = {}): Outgoing<SlackTarget> {
  return {
    target: target(),
    secret: BOT_TOKEN,
    eventId: 7,
    action: 'trigger',
    slug: SPEC.slug,
    dedupKey: `medic-heartbeat-${SPEC.slug}`,
    incidentId: 12,
    spec: SPEC,
    facts: { downAt: DOWN, lastBeatAt: DOWN - 6 * MIN, missedHeartbeats: 2, reason: 'missed' },
    severity: 'error',
    openedAt: DOWN,
    queuedAt: DOWN + 42 * MIN,
    host: 'cron-1.example.com',
    receipt: null,
    now: NOW,
    ...over,
  };
}

/** Every text of a message with the kind of text object it is in ('fallback' for the top-level text). */
function texts(m: SlackMessage): { kind: string; text: string }[] {
  const out = [{ kind: 'fallback', text: m.text }];
  const add = (t: { type: string; text: string } | undefined) => t && out.push({ kind: t.type, text: t.text });
  for (const b of m.blocks as any[]) {
    add(b.text);
    for (const f of b.fields ?? []) add(f);
    for (const e of b.elements ?? []) add(e.type === 'button' ? e.text : e);
  }
  return out;
}
const block = (m: SlackMessage, type: Block['type']) => m.blocks.filter((b) => b.type === type) as any[];
const header = (m: SlackMessage) => block(m, 'header')[0].text.text as string;
const all = (m: SlackMessage) => texts(m).map((t) => t.text).join('\n');
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe('the trigger message', () => {
  it.each([
    ['critical', ':red_circle:'],
    ['error', ':large_orange_circle:'],
    ['warning', ':large_yellow_circle:'],
    ['info', ':large_blue_circle:'],
  ] as const)('severity %s shows %s in the header and the fallback text', (severity, emoji) => {
    const m = triggerMessage(outgoing({ severity }));
    expect(header(m)).toBe(`${emoji} Nightly Backup is down`);
    expect(m.text.startsWith(`${emoji} Nightly Backup is down:`)).toBe(true);
  });

  it.each<[string, Partial<Outgoing<SlackTarget>>, string]>([
    ['missed', {}, 'no heartbeat for 2 intervals'],
    ['missed once', { facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 1 } }, 'no heartbeat for 1 interval'],
    [
      'missed on a schedule',
      { spec: { ...SPEC, intervalMs: null, schedule: { expr: '30 2 * * *', cron: {} as any, timezone: 'UTC' } }, facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 3 } },
      'no heartbeat for 3 scheduled runs',
    ],
    ['failed', { facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 0, reason: 'failed', exitCode: 3, message: 'disk full' } }, 'the job failed: exit 3, disk full'],
    ['failed without details', { facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 0, reason: 'failed' } }, 'the job failed'],
    ['stuck', { facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 0, reason: 'stuck' } }, 'still running after 2h'],
  ])('%s: the section says why', (_, over, why) => {
    const m = triggerMessage(outgoing(over));
    expect(block(m, 'section')[0].text.text).toBe(`*Why:* ${why}. Down since 2026-03-02T09:06:00.000Z.`);
    expect(m.text).toContain(why);
  });

  it('names the service, team, priority, last seen, missed heartbeats and the checking host; the runbook as a button; the dedup key and incident in context', () => {
    const m = triggerMessage(outgoing());
    expect(block(m, 'section')[1].fields.map((f: any) => f.text)).toEqual([
      '*Service*\nnightly-backup',
      '*Team*\nplatform',
      '*Priority*\nP2',
      '*Last seen*\n2026-03-02T09:00:00.000Z',
      '*Missed heartbeats*\n2',
      '*Checked by*\ncron-1.example.com',
    ]);
    expect(block(m, 'actions')).toEqual([{ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Runbook' }, url: SPEC.runbook, action_id: 'runbook' }] }]);
    expect(block(m, 'context')[0].elements[0].text).toBe('Medic · dedup key medic-heartbeat-nightly-backup · incident 12');
    expect(blockProblem(m)).toBeNull();
  });

  it('"never" when it never beat, "none" without a team; no button without a runbook', () => {
    const m = triggerMessage(outgoing({ spec: { ...SPEC, team: null, runbook: null }, facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 1 } }));
    const fields = block(m, 'section')[1].fields.map((f: any) => f.text);
    expect(fields).toContain('*Last seen*\nnever');
    expect(fields).toContain('*Team*\nnone');
    expect(block(m, 'actions')).toEqual([]);
  });

  it('a failure shows its output tail in a code block that ``` inside it cannot close', () => {
    const m = triggerMessage(outgoing({ facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 0, reason: 'failed', exitCode: 1, outputTail: 'step 1\n```\n<!here> done\n' } }));
    const code = block(m, 'section')[2].text.text as string;
    expect(code.startsWith('*Output (last lines):*\n```\n')).toBe(true);
    expect(code.endsWith('\n```')).toBe(true);
    const inside = code.slice('*Output (last lines):*\n```\n'.length, -4);
    expect(inside).not.toContain('``');
    expect(inside).toContain('&lt;!here&gt; done');
    // No output block for a missed beat, even with a tail
    expect(block(triggerMessage(outgoing({ facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 1, outputTail: 'x' } })), 'section')).toHaveLength(2);
  });
});

describe('escaping: a name, reason or output cannot ping or link', () => {
  it.each(['<!channel>', '<!here|here>', '<https://evil.example|click me>', '<@U0123456>', 'Tom & Jerry > cats', '&lt;!channel&gt;'])('%s', (evil) => {
    const m = triggerMessage(
      outgoing({
        spec: { ...SPEC, name: evil, team: evil },
        facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 0, reason: 'failed', exitCode: 2, message: evil, outputTail: evil },
        host: evil,
      }),
    );
    for (const t of texts(m).filter((x) => x.kind !== 'plain_text')) {
      expect(t.text).not.toMatch(/[<>]/);
      // Every & starts an escape Medic wrote
      expect(t.text.replace(/&(amp|lt|gt);/g, '')).not.toContain('&');
    }
    expect(all(m)).toContain(escapeMrkdwn(evil));
    const r = resolveMessage(outgoing({ action: 'resolve', facts: null, spec: { ...SPEC, name: evil }, host: evil }));
    for (const t of texts(r).filter((x) => x.kind !== 'plain_text')) expect(t.text).not.toMatch(/[<>]/);
  });

  it('asks Slack not to unfurl links, link names or parse the fallback text (the request body)', async () => {
    const s = await slack();
    await sendSlack(outgoing({ target: target({ mode: 'webhook', secret: 'env:SLACK_WEBHOOK_URL', channel: null }), secret: s.webhookUrl }), post);
    expect(s.requests[0]!.body).toMatchObject({ unfurl_links: false, unfurl_media: false, link_names: false, parse: 'none' });
  });

  it('every mrkdwn text object is verbatim: a URL, #channel or @here in a job\'s words is not made a link or a mention', () => {
    const said = 'login expired, re-auth at https://evil.example/sso @here #general';
    const m = triggerMessage(outgoing({ facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 0, reason: 'failed', exitCode: 2, message: said, outputTail: said } }));
    const objects = JSON.stringify(m.blocks).match(/\{"type":"mrkdwn"[^}]*\}/g) ?? [];
    expect(objects.length).toBeGreaterThan(3);
    for (const o of objects) expect(JSON.parse(o)).toMatchObject({ verbatim: true });
    expect(blockProblem(m)).toBeNull();
  });
});

describe("Slack's limits, by cutting", () => {
  const huge = (unit: string, n: number) => unit.repeat(n);
  it.each<[string, Partial<Outgoing<SlackTarget>>]>([
    ['a 10,000-character name', { spec: { ...SPEC, name: huge('N', 10_000) } }],
    ['a name of 5,000 emoji (cut on code points)', { spec: { ...SPEC, name: huge('😀', 5_000), team: huge('😀', 3000) } }],
    ['a name of 4,000 <', { spec: { ...SPEC, name: huge('<', 4_000), team: huge('&', 3000) } }],
    ['a 1,000-character message of & and a 64 KB output of <', { facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 0, reason: 'failed', exitCode: 1, message: huge('&', 1000), outputTail: huge('<', 65_536) } }],
    ['a 64 KB output of emoji', { spec: { ...SPEC, outputTailBytes: 65_536 }, facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 0, reason: 'failed', outputTail: huge('😀', 16_384) } }],
    ['a 5,000-character runbook', { spec: { ...SPEC, runbook: `https://wiki.example.com/${huge('a', 5000)}` } }],
    ['a 253-character host', { host: huge('h', 253) }],
  ])('%s: every text within its limit, no broken character, Slack takes it', (_, over) => {
    for (const m of [triggerMessage(outgoing(over)), resolveMessage(outgoing({ ...over, action: 'resolve' }))]) {
      expect(blockProblem(m)).toBeNull();
      expect(m.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
      expect(m.text.length).toBeLessThanOrEqual(SLACK_LIMITS.text);
      for (const t of texts(m)) expect(LONE_SURROGATE.test(t.text)).toBe(false);
      expect(header(m).length).toBeLessThanOrEqual(SLACK_LIMITS.header);
      expect(header(m)).toMatch(/ is (down|back up — recovered after 42m)$/);
    }
  });

  it('an output tail is cut from its start: the end is kept', () => {
    const tail = `${'x'.repeat(10_000)}THE END`;
    const m = triggerMessage(outgoing({ spec: { ...SPEC, outputTailBytes: 65_536 }, facts: { downAt: DOWN, lastBeatAt: null, missedHeartbeats: 0, reason: 'failed', outputTail: tail } }));
    const code = block(m, 'section')[2].text.text as string;
    expect(code.length).toBeLessThanOrEqual(SLACK_LIMITS.section);
    expect(code).toMatch(/```\n…x+THE END\n```$/);
  });

  it('a runbook longer than a button takes is text, cut, with no button', () => {
    const runbook = `https://wiki.example.com/${'a'.repeat(5000)}`;
    const m = triggerMessage(outgoing({ spec: { ...SPEC, runbook } }));
    expect(block(m, 'actions')).toEqual([]);
    const text = block(m, 'section').find((b) => b.text?.text.startsWith('*Runbook:*')).text.text as string;
    expect(text.length).toBeLessThanOrEqual(SLACK_LIMITS.section);
    expect(text.endsWith('…')).toBe(true);
  });
});

describe('the resolve message', () => {
  it.each<[string, Partial<Outgoing<SlackTarget>>, string]>([
    ['after 42 minutes', {}, ':large_green_circle: Nightly Backup is back up — recovered after 42m'],
    ['after 1h 5m 30s (whole seconds)', { queuedAt: DOWN + 65 * MIN + 30_400 }, ':large_green_circle: Nightly Backup is back up — recovered after 1h5m30s'],
    ['when it opened is unknown', { openedAt: null }, ':large_green_circle: Nightly Backup is back up — recovered'],
    ['a service removed from the config: closed, by its slug, never "back up"', { spec: null }, ':white_circle: nightly-backup is no longer monitored'],
  ])('%s', (_, over, head) => {
    const m = resolveMessage(outgoing({ action: 'resolve', facts: null, ...over }));
    expect(header(m)).toBe(head);
    expect(all(m)).toMatch(/closes incident 12 \(dedup key medic-heartbeat-nightly-backup/);
    if (over.spec === null) expect(all(m)).not.toContain('back up');
    expect(blockProblem(m)).toBeNull();
  });

  it('names when the incident opened', () => {
    expect(all(resolveMessage(outgoing({ action: 'resolve', facts: null })))).toContain('incident 12 (dedup key medic-heartbeat-nightly-backup, opened 2026-03-02T09:06:00.000Z)');
  });
});

describe("what an incoming webhook's answer means", () => {
  const res = (status: number, text: string, headers: Record<string, string> = {}) => ({ status, text, headers });
  const HOOK = 'http://127.0.0.1:1/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX';
  it.each<[string, ReturnType<typeof res>, Record<string, unknown>]>([
    ['200 ok: posted', res(200, 'ok'), { ok: true, status: 200, answer: { message: 'ok' } }],
    ['200 with another body: not Slack, retried', res(200, '<html>login</html>'), { ok: false, permanent: false }],
    ['204: not Slack, retried', res(204, ''), { ok: false, permanent: false }],
    ['408: retried', res(408, 'timeout'), { ok: false, permanent: false }],
    ['429 with Retry-After: retried after it', res(429, 'rate_limited', { 'retry-after': '7' }), { ok: false, permanent: false, retryAfterMs: 7000 }],
    ['500: retried', res(500, 'oops'), { ok: false, permanent: false }],
    ['503: retried', res(503, ''), { ok: false, permanent: false }],
    ['301: refused, never followed', res(301, ''), { ok: false, permanent: true }],
    ['403 invalid_token: refused, keeping the reason', res(403, 'invalid_token'), { ok: false, permanent: true, answer: { message: 'invalid_token' } }],
    ['404 channel_not_found', res(404, 'channel_not_found'), { ok: false, permanent: true, answer: { message: 'channel_not_found' } }],
    ['404 no_service', res(404, 'no_service'), { ok: false, permanent: true, answer: { message: 'no_service' } }],
    ['404 no_team', res(404, 'no_team'), { ok: false, permanent: true, answer: { message: 'no_team' } }],
    ['403 team_disabled', res(403, 'team_disabled'), { ok: false, permanent: true, answer: { message: 'team_disabled' } }],
    ['403 action_prohibited', res(403, 'action_prohibited'), { ok: false, permanent: true, answer: { message: 'action_prohibited' } }],
    ['400 invalid_payload', res(400, 'invalid_payload'), { ok: false, permanent: true, answer: { message: 'invalid_payload' } }],
    ['403 posting_to_general_channel_denied', res(403, 'posting_to_general_channel_denied'), { ok: false, permanent: true, answer: { message: 'posting_to_general_channel_denied' } }],
    ['410 channel_is_archived', res(410, 'channel_is_archived'), { ok: false, permanent: true, answer: { message: 'channel_is_archived' } }],
    ['an answer quoting the URL: hidden', res(404, `no_service for ${HOOK.toUpperCase()}`), { ok: false, permanent: true, answer: { message: 'no_service for <secret>' } }],
    ['an answer with escape codes and lines: one printable line', res(400, 'bad\n\u001b[31mred'), { ok: false, permanent: true, answer: { message: 'bad ?[31mred' } }],
  ])('%s', (_, answer, want) => {
    expect(judgeWebhookAnswer(answer, [HOOK, new URL(HOOK).pathname], NOW)).toMatchObject(want);
  });
});

describe('what a Web API answer means', () => {
  const api = (body: unknown, status = 200, headers: Record<string, string> = {}) => ({ status, text: typeof body === 'string' ? body : JSON.stringify(body), headers });
  it('200 {"ok": true}: posted, with the channel id and ts', () => {
    expect(judgeApiAnswer(api({ ok: true, channel: 'C0ALERTS01', ts: '1772442000.000100' }), [BOT_TOKEN], NOW)).toEqual({ ok: true, status: 200, channel: 'C0ALERTS01', ts: '1772442000.000100' });
    // A channel or ts not shaped like Slack's is not kept
    expect(judgeApiAnswer(api({ ok: true, channel: '../x', ts: '1.2.3' }), [BOT_TOKEN], NOW)).toEqual({ ok: true, status: 200, channel: null, ts: null });
  });
  it.each(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout'])('200 ok:false %s: never delivered, retried', (code) => {
    expect(judgeApiAnswer(api({ ok: false, error: code }), [BOT_TOKEN], NOW)).toMatchObject({ ok: false, permanent: false, status: 200, answer: { message: code }, slackError: code });
  });
  it.each([
    'invalid_auth',
    'not_authed',
    'account_inactive',
    'token_revoked',
    'token_expired',
    'missing_scope',
    'not_in_channel',
    'channel_not_found',
    'is_archived',
    'restricted_action',
    'invalid_blocks',
    'msg_too_long',
    'something_new',
  ])('200 ok:false %s: never delivered, refused, keeping the code', (code) => {
    expect(judgeApiAnswer(api({ ok: false, error: code }), [BOT_TOKEN], NOW)).toMatchObject({ ok: false, permanent: true, status: 200, answer: { message: code }, slackError: code });
  });
  it.each<[string, ReturnType<typeof api>, Record<string, unknown>]>([
    ['429 with Retry-After: retried after it', api('', 429, { 'retry-after': '3' }), { ok: false, permanent: false, retryAfterMs: 3000 }],
    ['500: retried', api({ ok: false, error: 'internal_error' }, 500), { ok: false, permanent: false }],
    ['502 HTML: retried', api('<html>bad gateway</html>', 502), { ok: false, permanent: false }],
    ['a 200 that is not JSON: retried', api('<html>captive portal</html>'), { ok: false, permanent: false }],
    ['a 200 JSON without ok: retried', api({ hello: 1 }), { ok: false, permanent: false }],
    ['201: retried', api({ ok: true }, 201), { ok: false, permanent: false }],
    ['302: refused, never followed', api('', 302, { location: 'https://elsewhere.example/' }), { ok: false, permanent: true }],
    ['404: refused', api('not found', 404), { ok: false, permanent: true }],
    ['an error quoting the token: hidden', api({ ok: false, error: `invalid_auth ${BOT_TOKEN}` }), { ok: false, permanent: true, answer: { message: 'invalid_auth <secret>' } }],
    ['another token in the answer: hidden', api({ ok: false, error: 'invalid_auth xoxp-1234567890-abcdef' }), { ok: false, permanent: true, answer: { message: 'invalid_auth xox?-<hidden>' } }],
  ])('%s', (_, answer, want) => {
    expect(judgeApiAnswer(answer, [BOT_TOKEN], NOW)).toMatchObject(want);
  });
});

describe('receipts', () => {
  const of = { dedupKey: 'medic-heartbeat-nightly-backup', incidentId: 12, targetName: 'chat' };
  const good = makeReceipt(BOT_TOKEN, 'C0ALERTS01', '1772442000.000100', of);
  const parsed = JSON.parse(good);

  it('a receipt this token wrote for this incident and target is read back', () => {
    expect(parsed).toEqual({ v: 1, channel: 'C0ALERTS01', ts: '1772442000.000100', mac: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(readReceipt(good, BOT_TOKEN, of)).toEqual({ channel: 'C0ALERTS01', ts: '1772442000.000100' });
  });

  it.each<[string, string | null, typeof of, string?]>([
    ['another channel', JSON.stringify({ ...parsed, channel: 'C0OTHER999' }), of],
    ['another ts', JSON.stringify({ ...parsed, ts: '1772442000.000101' }), of],
    ['a receipt from another incident', good, { ...of, incidentId: 13 }],
    ["another service's receipt", good, { ...of, dedupKey: 'medic-heartbeat-api' }],
    ["another target's receipt", good, { ...of, targetName: 'other' }],
    ['a receipt from another token', good, of, 'xoxb-1111111111-2222222222-otherOTHERother'],
    ['an altered mac', JSON.stringify({ ...parsed, mac: parsed.mac.replace(/^./, (c: string) => (c === '0' ? '1' : '0')) }), of],
    ['a short mac', JSON.stringify({ ...parsed, mac: parsed.mac.slice(0, 10) }), of],
    ['a channel not shaped like an id', JSON.stringify({ ...parsed, channel: 'c0alerts01' }), of],
    ['a ts not shaped like one', JSON.stringify({ ...parsed, ts: '1772442000' }), of],
    ['version 2', JSON.stringify({ ...parsed, v: 2 }), of],
    ['bad JSON', '{"v":1,', of],
    ['JSON that is not an object', '[1,2]', of],
    ['10 KB', JSON.stringify({ ...parsed, pad: 'x'.repeat(10_240) }), of],
    ['none', null, of],
  ])('%s: never used', (_, raw, who, token = BOT_TOKEN) => {
    expect(readReceipt(raw, token, who)).toBeNull();
  });
});

describe('sending, against the Slack stand-in', () => {
  const tokenOut = (s: SlackServer, over: Partial<Outgoing<SlackTarget>> = {}) => outgoing({ target: target({ apiUrl: s.apiUrl }), ...over });

  it('token mode: the trigger is posted to the channel with a receipt; its resolve edits that message and replies in its thread', async () => {
    const s = await slack();
    const trigger = await sendSlack(tokenOut(s), post);
    expect(trigger).toMatchObject({ ok: true, status: 200 });
    expect(s.messages).toHaveLength(1);
    const ts = s.messages[0]!.ts;
    expect(trigger.receipt).toBeDefined();
    expect(readReceipt(trigger.receipt!, BOT_TOKEN, { dedupKey: 'medic-heartbeat-nightly-backup', incidentId: 12, targetName: 'chat' })).toEqual({ channel: ALERTS.id, ts });
    expect(s.requests[0]).toMatchObject({ path: '/api/chat.postMessage', headers: { authorization: `Bearer ${BOT_TOKEN}`, 'content-type': 'application/json; charset=utf-8' } });
    expect(s.requests[0]!.body).toMatchObject({ channel: ALERTS.id, unfurl_links: false, unfurl_media: false });

    const resolve = await sendSlack(tokenOut(s, { action: 'resolve', facts: null, receipt: trigger.receipt! }), post);
    expect(resolve).toMatchObject({ ok: true, status: 200 });
    expect(resolve.receipt).toBeUndefined();
    expect(s.requests.map((r) => r.path)).toEqual(['/api/chat.postMessage', '/api/chat.update', '/api/chat.postMessage']);
    expect(s.messages[0]).toMatchObject({ ts, edits: 1 });
    expect(s.messages[0]!.text).toContain('Nightly Backup is back up — recovered after 42m');
    expect(s.thread(ts).map((m) => m.text)).toEqual(['recovered after 42m']);

    // A retry of the resolve repeats the (idempotent) edit, then replies again
    await sendSlack(tokenOut(s, { action: 'resolve', facts: null, receipt: trigger.receipt! }), post);
    expect(s.messages.filter((m) => m.threadTs === null)).toHaveLength(1);
  });

  it.each<[string, (good: string) => string | null]>([
    ['another channel', (g) => JSON.stringify({ ...JSON.parse(g), channel: 'C0OTHER999' })],
    ['another ts', (g) => JSON.stringify({ ...JSON.parse(g), ts: '1.000001' })],
    ['from another incident', () => makeReceipt(BOT_TOKEN, ALERTS.id, '1.000001', { dedupKey: 'medic-heartbeat-nightly-backup', incidentId: 99, targetName: 'chat' })],
    ['bad JSON', () => 'not json'],
    ['10 KB', (g) => JSON.stringify({ ...JSON.parse(g), pad: 'x'.repeat(10_240) })],
  ])('a forged or altered receipt (%s) edits nothing: the resolve is a new message naming the incident', async (_, forge) => {
    const s = await slack();
    const trigger = await sendSlack(tokenOut(s), post);
    const resolve = await sendSlack(tokenOut(s, { action: 'resolve', facts: null, receipt: forge(trigger.receipt!) }), post);
    expect(resolve.ok).toBe(true);
    expect(s.requests.map((r) => r.path)).toEqual(['/api/chat.postMessage', '/api/chat.postMessage']);
    expect(s.messages[0]!.edits).toBe(0);
    expect(s.messages[1]).toMatchObject({ threadTs: null });
    expect(s.messages[1]!.text).toContain('closes incident 12');
  });

  it.each(['message_not_found', 'cant_update_message', 'edit_window_closed'])('chat.update says %s: a new message names the incident instead', async (code) => {
    const s = await slack();
    const trigger = await sendSlack(tokenOut(s), post);
    s.script(apiError(code));
    const resolve = await sendSlack(tokenOut(s, { action: 'resolve', facts: null, receipt: trigger.receipt! }), post);
    expect(resolve.ok).toBe(true);
    expect(s.requests.map((r) => r.path)).toEqual(['/api/chat.postMessage', '/api/chat.update', '/api/chat.postMessage']);
    expect(s.messages.map((m) => m.threadTs)).toEqual([null, null]);
    expect(s.messages[1]!.text).toContain('closes incident 12');
  });

  it('the edit succeeded but the reply was throttled: retried, never delivered', async () => {
    const s = await slack();
    const trigger = await sendSlack(tokenOut(s), post);
    s.script({ status: 200, body: JSON.stringify({ ok: true, channel: ALERTS.id, ts: s.messages[0]!.ts }) }, apiError('ratelimited'));
    expect(await sendSlack(tokenOut(s, { action: 'resolve', facts: null, receipt: trigger.receipt! }), post)).toMatchObject({ ok: false, permanent: false, answer: { message: 'ratelimited' } });
  });

  it.each<[string, (s: SlackServer) => void, Record<string, unknown>]>([
    ['a bad token: invalid_auth, refused', (s) => (s.token = 'xoxb-9999999999-nope'), { ok: false, permanent: true, status: 200, answer: { message: 'invalid_auth' } }],
    ['not a member: not_in_channel, refused', (s) => (s.channels[0]!.member = false), { ok: false, permanent: true, answer: { message: 'not_in_channel' } }],
    ['archived: is_archived, refused', (s) => (s.channels[0]!.archived = true), { ok: false, permanent: true, answer: { message: 'is_archived' } }],
    ['429 with Retry-After: retried after it', (s) => s.script(rateLimited(2)), { ok: false, permanent: false, status: 429, retryAfterMs: 2000 }],
  ])('token mode, %s', async (_, arrange, want) => {
    const s = await slack();
    arrange(s);
    const result = await sendSlack(tokenOut(s), post);
    expect(result).toMatchObject(want);
    expect(result.receipt).toBeUndefined();
    expect(JSON.stringify(result)).not.toContain(BOT_TOKEN);
  });

  it('token mode: an unknown channel is channel_not_found', async () => {
    const s = await slack();
    expect(await sendSlack(outgoing({ target: target({ apiUrl: s.apiUrl, channel: '#nowhere' }) }), post)).toMatchObject({ ok: false, permanent: true, answer: { message: 'channel_not_found' } });
  });

  it('webhook mode: trigger and resolve are posted to the webhook URL; the resolve is a new message naming the incident', async () => {
    const s = await slack();
    const hook = outgoing({ target: target({ mode: 'webhook', secret: 'env:SLACK_WEBHOOK_URL', channel: null }), secret: s.webhookUrl });
    expect(await sendSlack(hook, post)).toEqual({ ok: true, status: 200, answer: { message: 'ok' } });
    expect(await sendSlack({ ...hook, action: 'resolve', facts: null, receipt: null }, post)).toMatchObject({ ok: true });
    expect(s.messages.map((m) => m.via)).toEqual(['webhook', 'webhook']);
    expect(s.messages[1]!.text).toContain('This closes incident 12');
  });

  it.each<[string, Parameters<SlackServer['script']>[0], Record<string, unknown>]>([
    ['403 invalid_token', webhookError(403, 'invalid_token'), { ok: false, permanent: true, status: 403, answer: { message: 'invalid_token' } }],
    ['404 channel_not_found', webhookError(404, 'channel_not_found'), { ok: false, permanent: true, status: 404 }],
    ['429 with Retry-After', rateLimited(4), { ok: false, permanent: false, status: 429, retryAfterMs: 4000 }],
  ])('webhook mode: %s', async (_, answer, want) => {
    const s = await slack();
    s.script(answer);
    const result = await sendSlack(outgoing({ target: target({ mode: 'webhook', secret: 'env:SLACK_WEBHOOK_URL', channel: null }), secret: s.webhookUrl }), post);
    expect(result).toMatchObject(want);
  });

  it('webhook mode: an unknown webhook is no_service, another secret of this one invalid_token, and no error quotes the URL (a refused connection either)', async () => {
    const s = await slack();
    const wrong = s.webhookUrl.replace('/T00000000/', '/T11111111/').replace(/X+$/, 'YYYYYYYYYYYYYYYYYYYYYYYY');
    const hook = (url: string) => outgoing({ target: target({ mode: 'webhook', secret: 'env:SLACK_WEBHOOK_URL', channel: null }), secret: url });
    const result = await sendSlack(hook(wrong), post);
    expect(result).toMatchObject({ ok: false, permanent: true, status: 404, answer: { message: 'no_service' } });
    expect(await sendSlack(hook(s.webhookUrl.replace(/X+$/, 'Z'.repeat(24))), post)).toMatchObject({ ok: false, permanent: true, status: 403, answer: { message: 'invalid_token' } });
    await s.close();
    const down = await sendSlack(hook(s.webhookUrl), post);
    expect(down).toMatchObject({ ok: false, permanent: false, status: null });
    for (const r of [result, down]) expect(JSON.stringify(r)).not.toMatch(/services\/T[01]|XXXXXXXX|YYYYYYYY/);
  });

  it.each([
    ['webhook', false, 'Medic test alert - integration working!'],
    ['webhook', true, 'Medic test alert resolved'],
    ['token', false, 'Medic test alert - integration working!'],
    ['token', true, 'Medic test alert resolved'],
  ] as const)('test-alert in %s mode (resolve %s) posts "%s" and keeps no receipt', async (mode, resolve, words) => {
    const s = await slack();
    const t = mode === 'webhook' ? target({ mode, secret: 'env:SLACK_WEBHOOK_URL', channel: null }) : target({ apiUrl: s.apiUrl });
    const result = await slackTest({ target: t, secret: mode === 'webhook' ? s.webhookUrl : BOT_TOKEN, resolve, host: 'cron-1', now: NOW }, post);
    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(result.receipt).toBeUndefined();
    expect(s.messages[0]!.text).toContain(words);
    expect(blockProblem(s.requests[0]!.body)).toBeNull();
  });
});

describe('what to do about a refusal', () => {
  const token = target({ secret: 'env:SLACK_BOT_TOKEN' });
  const hook = target({ mode: 'webhook', secret: 'file:/etc/medic/slack-webhook', channel: null });
  it.each<[string, number | null, string, SlackTarget, RegExp]>([
    ['invalid_auth', 200, 'invalid_auth', token, /make a new one .*environment variable SLACK_BOT_TOKEN/],
    ['token_revoked', 200, 'token_revoked', token, /make a new one .*environment variable SLACK_BOT_TOKEN/],
    ['webhook invalid_token', 403, 'invalid_token', hook, /make a new one .*file \/etc\/medic\/slack-webhook/],
    ['webhook no_service', 404, 'no_service', hook, /make a new one .*file \/etc\/medic\/slack-webhook/],
    ['not_in_channel', 200, 'not_in_channel', token, /\/invite @your-app/],
    ['channel_not_found (token)', 200, 'channel_not_found', token, /check "channel" in targets\.chat; use the channel id/],
    ['channel_not_found (webhook)', 404, 'channel_not_found', hook, /make a new webhook/],
    ['is_archived', 200, 'is_archived', token, /archived/],
    ['channel_is_archived', 410, 'channel_is_archived', hook, /archived/],
    ['missing_scope', 200, 'missing_scope', token, /chat:write.*reinstall/],
    ['invalid_blocks', 200, 'invalid_blocks', token, /a bug in Medic/],
    ['invalid_payload', 400, 'invalid_payload', hook, /a bug in Medic/],
    ['msg_too_long', 200, 'msg_too_long', token, /a bug in Medic/],
    ['a redirect', 301, 'HTTP 301 redirect', hook, /redirect/],
  ])('%s', (_, status, answer, t, cause) => {
    const hint = slackRefusalHint(status, answer, t);
    const lines = hint.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(cause);
    expect(lines[1]).toBe("once fixed, it is sent again within 10 minutes (now: medic check --retry-refused; a change to the target's secret or URL sends it at the next check)");
  });
});
