// [targets] Slack: the message (Block Kit, mrkdwn escaped, within Slack's limits), an incoming
// webhook or the Web API with a bot token, and what Slack's answers mean.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SlackTarget } from '../config.js';
import { formatDuration, iso } from '../core/duration.js';
import { jsonObject } from '../core/json.js';
import type { Severity } from '../core/service.js';
import { tailUtf8 } from '../core/signal-bounds.js';
import { hideSecrets, redactSecrets, secretForms, urlForDisplay } from '../errors.js';
import { clip, oneLine, retryAfterMs, type Answered } from './http.js';
import { describeKeyRef, keyRefOf, secretNoun } from './keys.js';
import { REFUSAL_AGAIN, type Driver, type OutboundRequest, type Outcome, type Outgoing, type Poster } from './outbound.js';
import type { PdAnswer } from './pagerduty.js';

// ---------------------------------------------------------------------------------------------
// Slack's limits (Block Kit reference): longer text is refused with invalid_blocks, so Medic cuts.

export const SLACK_LIMITS = {
  /** A header block's plain_text. */
  header: 150,
  /** A section's text, and a context element's. */
  section: 3000,
  /** A section's fields: how many, and each one's text. */
  fields: 10,
  field: 2000,
  /** A button's label and its url. */
  button: 75,
  url: 3000,
  /** Blocks in one message. */
  blocks: 50,
  /** The plain-text fallback: Slack itself truncates at 40,000; a notification shows far less. */
  text: 3000,
} as const;

export const SEVERITY_EMOJI: Record<Severity, string> = {
  critical: ':red_circle:',
  error: ':large_orange_circle:',
  warning: ':large_yellow_circle:',
  info: ':large_blue_circle:',
};
export const RESOLVED_EMOJI = ':large_green_circle:';
/** An incident closed because its service left the config: neither down nor known to be up. */
const CLOSED_EMOJI = ':white_circle:';
export const TEST_TEXT = 'Medic test alert - integration working!';
export const TEST_RESOLVED_TEXT = 'Medic test alert resolved';

type Text = { type: 'plain_text'; text: string; emoji?: boolean } | { type: 'mrkdwn'; text: string; verbatim: true };
export type Block =
  | { type: 'header'; text: Text }
  | { type: 'section'; text?: Text; fields?: Text[] }
  | { type: 'actions'; elements: { type: 'button'; text: Text; url: string; action_id: string }[] }
  | { type: 'context'; elements: Text[] };

/** What is posted: the blocks, and the plain-text fallback notifications and old clients show. */
export interface SlackMessage {
  text: string;
  blocks: Block[];
}

// ---------------------------------------------------------------------------------------------
// Text

/**
 * Text as Slack's mrkdwn shows it literally: `&`, `<` and `>` escaped, so a name like
 * `<!channel>` or `<https://evil|x>` pings nobody and links nowhere.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `text` escaped and cut (never inside an escape or a character) to at most `max` characters, `…` marking a cut. */
export function fitMrkdwn(text: string, max: number): string {
  const whole = escapeMrkdwn(text);
  if (whole.length <= max) return whole;
  let out = '';
  for (const ch of text) {
    const e = escapeMrkdwn(ch);
    if (out.length + e.length > max - 1) break;
    out += e;
  }
  return max >= 1 ? `${out}…` : '';
}

/** The END of `text`, escaped, within `max` characters (an output tail is cut from its start), `…` marking a cut. */
export function fitTail(text: string, max: number): string {
  const whole = escapeMrkdwn(text);
  if (whole.length <= max) return whole;
  const chars = Array.from(text);
  let out = '';
  for (let i = chars.length - 1; i >= 0; i--) {
    const e = escapeMrkdwn(chars[i]!);
    if (out.length + e.length > max - 1) break;
    out = e + out;
  }
  return max >= 1 ? `…${out}` : '';
}

/** Plain text cut on a character boundary (header, button). */
function fitPlain(text: string, max: number): string {
  return clip(text, max);
}

/** Backticks can no longer close the code block an output tail sits in: no two stay side by side. */
export function neutraliseFences(text: string): string {
  return text.replace(/`(?=`)/g, '`\u200b');
}

/** A header `<emoji> <name><suffix>`: the name gives way so that the suffix is always seen. */
function headerText(emoji: string, name: string, suffix: string): string {
  const room = SLACK_LIMITS.header - emoji.length - 1 - suffix.length;
  return fitPlain(`${emoji} ${clip(name, Math.max(1, room))}${suffix}`, SLACK_LIMITS.header);
}

/**
 * A mrkdwn text object, `verbatim`: Slack then turns no URL, channel name or mention in it into a
 * link or a ping (names, reasons, a job's output are not Medic's words); its own formatting stays.
 */
const mrkdwn = (text: string): Text => ({ type: 'mrkdwn', text, verbatim: true });

function field(label: string, value: string): Text {
  return mrkdwn(`*${label}*\n${fitMrkdwn(value, SLACK_LIMITS.field - label.length - 3)}`);
}

/** "42m", from the outage's start to the check that saw it back (whole seconds); null when unknown. */
export function outageLength(openedAt: number | null, backAt: number): string | null {
  if (openedAt === null || !Number.isFinite(openedAt) || backAt < openedAt) return null;
  return formatDuration(Math.floor((backAt - openedAt) / 1000) * 1000);
}

export function recoveredText(openedAt: number | null, backAt: number): string {
  const length = outageLength(openedAt, backAt);
  return length === null ? 'recovered' : `recovered after ${length}`;
}

/** Why it is down, in words (raw text: escaped where it is used). */
export function downWhy(out: Pick<Outgoing, 'spec' | 'facts'>): string {
  const facts = out.facts;
  const reason = facts?.reason ?? 'missed';
  if (reason === 'failed') {
    const parts = [facts?.exitCode != null ? `exit ${facts.exitCode}` : null, facts?.message ? oneLine(facts.message) : null].filter(Boolean);
    return parts.length > 0 ? `the job failed: ${parts.join(', ')}` : 'the job failed';
  }
  if (reason === 'stuck') {
    const max = out.spec?.maxRuntimeMs;
    return max != null ? `still running after ${formatDuration(max)}` : 'still running past its max runtime';
  }
  const n = facts?.missedHeartbeats ?? 0;
  const unit = out.spec?.schedule ? 'scheduled run' : 'interval';
  return n > 0 ? `no heartbeat for ${n} ${unit}${n === 1 ? '' : 's'}` : 'no heartbeat in time';
}

/** A service's name as shown: its configured name, or the slug when it left the config. */
function nameOf(out: Pick<Outgoing, 'spec' | 'slug'>): string {
  return oneLine(out.spec?.name ?? out.slug) || out.slug;
}

function incidentLine(out: Pick<Outgoing, 'dedupKey' | 'incidentId'>): Block {
  return { type: 'context', elements: [mrkdwn(fitMrkdwn(`Medic · dedup key ${out.dedupKey} · incident ${out.incidentId}`, SLACK_LIMITS.section))] };
}

/** The runbook as a button, or (a url longer than a button takes) as cut, unlinked text. */
function runbookBlock(runbook: string): Block {
  if (runbook.length <= SLACK_LIMITS.url) {
    return { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: fitPlain('Runbook', SLACK_LIMITS.button) }, url: runbook, action_id: 'runbook' }] };
  }
  return { type: 'section', text: mrkdwn(`*Runbook:* ${fitMrkdwn(runbook, SLACK_LIMITS.section - 13)}`) };
}

function finish(text: string, blocks: Block[]): SlackMessage {
  return { text: fitMrkdwn(text, SLACK_LIMITS.text), blocks: blocks.slice(0, SLACK_LIMITS.blocks) };
}

// The text that goes into fitMrkdwn is raw: escaping happens there, once.
function fallback(parts: string[]): string {
  return parts.join(' ');
}

/** The message for a trigger: what is down, why, the details, the output tail, the runbook. */
export function triggerMessage(out: Pick<Outgoing, 'spec' | 'slug' | 'facts' | 'severity' | 'dedupKey' | 'incidentId' | 'host'>): SlackMessage {
  const name = nameOf(out);
  const emoji = SEVERITY_EMOJI[out.severity] ?? SEVERITY_EMOJI.info;
  const why = downWhy(out);
  const facts = out.facts;
  const since = facts ? ` Down since ${iso(facts.downAt)}.` : '';
  const whyText = `*Why:* ${fitMrkdwn(why, SLACK_LIMITS.section - 10 - since.length)}.${since}`;
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: headerText(emoji, name, ' is down'), emoji: true } },
    { type: 'section', text: mrkdwn(whyText) },
    {
      type: 'section',
      fields: [
        field('Service', out.slug),
        field('Team', out.spec?.team ?? 'none'),
        field('Priority', out.spec?.priority ?? 'unknown'),
        field('Last seen', facts?.lastBeatAt == null ? 'never' : iso(facts.lastBeatAt)),
        field('Missed heartbeats', String(facts?.missedHeartbeats ?? 0)),
        field('Checked by', out.host),
      ].slice(0, SLACK_LIMITS.fields),
    },
  ];
  if ((facts?.reason ?? 'missed') === 'failed' && facts?.outputTail) {
    const bytes = Math.min(out.spec?.outputTailBytes ?? facts.outputTail.length * 4, 64 * 1024);
    const tail = neutraliseFences(tailUtf8(facts.outputTail, bytes)).replace(/\s+$/, '');
    if (tail !== '') {
      const head = '*Output (last lines):*\n```\n';
      blocks.push({ type: 'section', text: mrkdwn(`${head}${fitTail(tail, SLACK_LIMITS.section - head.length - 4)}\n\`\`\``) });
    }
  }
  if (out.spec?.runbook) blocks.push(runbookBlock(out.spec.runbook));
  blocks.push(incidentLine(out));
  return finish(fallback([emoji, `${name} is down:`, `${why}.`, `(${out.dedupKey}, incident ${out.incidentId})`]), blocks);
}

/** The message for a resolve: back up, after how long, and the incident it closes. */
export function resolveMessage(out: Pick<Outgoing, 'spec' | 'slug' | 'dedupKey' | 'incidentId' | 'openedAt' | 'queuedAt' | 'host'>): SlackMessage {
  const name = nameOf(out);
  // A service removed from the config while down is closed, not known to be back.
  if (out.spec === null) return closedMessage(out, name);
  const recovered = recoveredText(out.openedAt, out.queuedAt);
  const opened = out.openedAt === null ? '' : `, opened ${iso(out.openedAt)}`;
  const closes = `This closes incident ${out.incidentId} (dedup key ${out.dedupKey}${opened}).`;
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: headerText(RESOLVED_EMOJI, name, ` is back up — ${recovered}`), emoji: true } },
    { type: 'section', text: mrkdwn(fitMrkdwn(`Back up at ${iso(out.queuedAt)}. ${closes}`, SLACK_LIMITS.section)) },
    { type: 'section', fields: [field('Service', out.slug), field('Checked by', out.host)] },
    incidentLine(out),
  ];
  return finish(fallback([RESOLVED_EMOJI, `${name} is back up — ${recovered}.`, closes]), blocks);
}

/** The resolve of a service that left the config while its incident was open: closed, not "back up". */
function closedMessage(out: Pick<Outgoing, 'slug' | 'dedupKey' | 'incidentId' | 'openedAt' | 'queuedAt' | 'host'>, name: string): SlackMessage {
  const opened = out.openedAt === null ? '' : `, opened ${iso(out.openedAt)}`;
  const closes = `It was removed from Medic's config while down, so this closes incident ${out.incidentId} (dedup key ${out.dedupKey}${opened}); nobody knows whether it is back.`;
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: headerText(CLOSED_EMOJI, name, ' is no longer monitored'), emoji: true } },
    { type: 'section', text: mrkdwn(fitMrkdwn(`Closed at ${iso(out.queuedAt)}. ${closes}`, SLACK_LIMITS.section)) },
    { type: 'section', fields: [field('Service', out.slug), field('Checked by', out.host)] },
    incidentLine(out),
  ];
  return finish(fallback([CLOSED_EMOJI, `${name} is no longer monitored.`, closes]), blocks);
}

/** The test message of `medic test-alert` (the guide's words), or its resolve. */
export function testMessage(resolve: boolean, host: string): SlackMessage {
  const text = resolve ? TEST_RESOLVED_TEXT : TEST_TEXT;
  const emoji = resolve ? RESOLVED_EMOJI : SEVERITY_EMOJI.info;
  return finish(`${emoji} ${text}`, [
    { type: 'section', text: mrkdwn(`${emoji} *${escapeMrkdwn(text)}*`) },
    { type: 'context', elements: [mrkdwn(fitMrkdwn(`Sent by medic test-alert from ${host}. Nothing is down.`, SLACK_LIMITS.section))] },
  ]);
}

// ---------------------------------------------------------------------------------------------
// Receipts: where a trigger's message is, kept with the trigger so that its resolve can edit it

const CHANNEL_ID = /^[A-Z0-9]{1,30}$/;
const MESSAGE_TS = /^\d{1,12}\.\d{1,12}$/;
/** A receipt is a few dozen characters: anything longer is not one Medic wrote, and is not parsed. */
const MAX_RECEIPT_CHARS = 512;

type ReceiptFor = Pick<Outgoing, 'dedupKey' | 'incidentId'> & { targetName: string };

function receiptMac(token: string, channel: string, ts: string, of: ReceiptFor): string {
  return createHmac('sha256', token).update(JSON.stringify(['medic-slack-receipt', 1, channel, ts, of.dedupKey, of.incidentId, of.targetName])).digest('hex');
}

/** The receipt of a posted trigger: its channel id and ts, with a MAC keyed with the token over them and the incident. */
export function makeReceipt(token: string, channel: string, ts: string, of: ReceiptFor): string {
  return JSON.stringify({ v: 1, channel, ts, mac: receiptMac(token, channel, ts, of) });
}

/**
 * A receipt read back from the database (not trusted): its channel and ts, only if it is one this
 * token wrote for this incident and target; else null (the resolve is then a new message).
 */
export function readReceipt(raw: string | null, token: string, of: ReceiptFor): { channel: string; ts: string } | null {
  if (typeof raw !== 'string' || raw.length > MAX_RECEIPT_CHARS) return null;
  const parsed = jsonObject(raw);
  if (!parsed) return null;
  const { v, channel, ts, mac } = parsed;
  if (v !== 1 || typeof channel !== 'string' || typeof ts !== 'string' || typeof mac !== 'string') return null;
  if (!CHANNEL_ID.test(channel) || !MESSAGE_TS.test(ts) || !/^[0-9a-f]{64}$/.test(mac)) return null;
  const want = Buffer.from(receiptMac(token, channel, ts, of), 'hex');
  return timingSafeEqual(want, Buffer.from(mac, 'hex')) ? { channel, ts } : null;
}

// ---------------------------------------------------------------------------------------------
// Slack's answers

/** Web API errors that say "try again later"; every other `ok: false` error needs a change to be cured. */
export const RETRYABLE_API_ERRORS: ReadonlySet<string> = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);
/** chat.update errors meaning the trigger's message can no longer be edited: a new message says it instead. */
export const EDIT_GONE_ERRORS: ReadonlySet<string> = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed']);

/** What a person may be shown of Slack's answer: the secrets of the request hidden, one line, printable, bounded. */
export function shownAnswer(text: string, hide: readonly string[]): string {
  const hidden = hideSecrets(text, hide, '<secret>').replace(/xox[a-z]-[A-Za-z0-9-]+/g, 'xox?-<hidden>');
  return clip(oneLine(redactSecrets(hidden, [], { keyShaped: true })).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?'), 300);
}

type Failed = Extract<Outcome, { ok: false }>;
const failed = (permanent: boolean, status: number | null, error: string, said?: string, retryAfter?: number): Failed => ({
  ok: false,
  permanent,
  status,
  error,
  ...(said !== undefined && { answer: { message: said } satisfies PdAnswer }),
  ...(retryAfter !== undefined && { retryAfterMs: retryAfter }),
});

/**
 * What an incoming webhook's answer means. 200 `ok`: posted. Another 2xx, or 200 with another
 * body: not Slack, retried. 408, 429 (after Retry-After), 5xx: retried. 3xx: refused, never
 * followed. Any other status: refused, keeping Slack's reason (`invalid_token`, `no_service`, …).
 */
export function judgeWebhookAnswer(res: Answered, hide: readonly string[], now: number): Outcome {
  const { status } = res;
  const said = shownAnswer(res.text, hide);
  if (status >= 300 && status < 400) return failed(true, status, `HTTP ${status}: the webhook URL answers with a redirect, which Medic does not follow`, said || `HTTP ${status} redirect`);
  if (status === 200 && res.text.trim() === 'ok') return { ok: true, status, answer: { message: 'ok' } };
  if (status >= 200 && status < 300) {
    return failed(false, status, `HTTP ${status} instead of Slack's 200 "ok": something other than Slack answered at the webhook URL`, said || undefined);
  }
  const retryable = status === 408 || status === 429 || status >= 500;
  return failed(!retryable, status, `HTTP ${status}`, said || `HTTP ${status}`, retryable ? retryAfterMs(res.headers['retry-after'], now) : undefined);
}

/** A Web API answer as Medic reads it: delivered (with the message's channel and ts), or why not. */
export type ApiAnswer = { ok: true; status: number; channel: string | null; ts: string | null } | (Failed & { slackError: string | null });

/**
 * What a Web API answer means. HTTP 200 `{"ok": true}`: done. HTTP 200 `{"ok": false, "error": E}`
 * is never delivered: E in RETRYABLE_API_ERRORS is retried, any other E refused. 408, 429 (after
 * Retry-After), 5xx, a 200 that is not Slack's JSON, another 2xx: retried. 3xx and other 4xx: refused.
 */
export function judgeApiAnswer(res: Answered, hide: readonly string[], now: number): ApiAnswer {
  const { status } = res;
  const body = jsonObject(res.text);
  const code = typeof body?.error === 'string' ? clip(shownAnswer(body.error, hide), 100) : null;
  const said = code ?? (shownAnswer(res.text, hide) || `HTTP ${status}`);
  const retryAfter = retryAfterMs(res.headers['retry-after'], now);
  const no = (permanent: boolean, error: string, after?: number): ApiAnswer => ({ ...failed(permanent, status, error, said, after), slackError: code });
  if (status >= 300 && status < 400) return no(true, `HTTP ${status}: apiUrl answers with a redirect, which Medic does not follow`);
  if (status === 408 || status === 429 || status >= 500) return no(false, `HTTP ${status}`, retryAfter);
  if (status >= 200 && status < 300) {
    if (status !== 200 || body === null || typeof body.ok !== 'boolean') return no(false, `HTTP ${status} without Slack's JSON answer: something other than Slack answered at apiUrl`);
    if (body.ok === true) {
      const channel = typeof body.channel === 'string' && CHANNEL_ID.test(body.channel) ? body.channel : null;
      const ts = typeof body.ts === 'string' && MESSAGE_TS.test(body.ts) ? body.ts : null;
      return { ok: true, status, channel, ts };
    }
    const retryable = code === null || RETRYABLE_API_ERRORS.has(code);
    return no(!retryable, `HTTP ${status}, not posted`, retryable ? retryAfter : undefined);
  }
  return no(true, `HTTP ${status}`);
}

// ---------------------------------------------------------------------------------------------
// Sending

/** The secrets a request holds: the webhook URL or token, and a webhook URL's path (its secret part) alone. */
function secretsOf(target: SlackTarget, secret: string): string[] {
  return target.mode === 'token' ? [secret] : secretForms(secret);
}

/** No previews, and nothing in the fallback text parsed into links or mentions. */
const NO_UNFURL = { unfurl_links: false, unfurl_media: false, link_names: false, parse: 'none' } as const;

interface Conn {
  target: SlackTarget;
  secret: string;
  hide: string[];
  now: number;
  post: Poster;
}

async function viaWebhook(c: Conn, message: SlackMessage): Promise<Outcome> {
  const req: OutboundRequest = { url: c.secret, body: JSON.stringify({ ...message, ...NO_UNFURL }), headers: {}, contentType: 'application/json', timeoutMs: c.target.timeoutMs, hide: c.hide };
  const res = await c.post(req);
  if ('error' in res) return failed(false, res.status, shownAnswer(res.error, c.hide));
  return judgeWebhookAnswer(res, c.hide, c.now);
}

async function callApi(c: Conn, method: 'chat.postMessage' | 'chat.update', args: Record<string, unknown>): Promise<ApiAnswer> {
  const req: OutboundRequest = {
    url: `${c.target.apiUrl}/${method}`,
    body: JSON.stringify(args),
    headers: { authorization: `Bearer ${c.secret}` },
    contentType: 'application/json; charset=utf-8',
    timeoutMs: c.target.timeoutMs,
    hide: c.hide,
  };
  const res = await c.post(req);
  if ('error' in res) return { ...failed(false, res.status, shownAnswer(res.error, c.hide)), slackError: null };
  return judgeApiAnswer(res, c.hide, c.now);
}

/** An API answer as an Outcome: `did` says what was done, for "Slack answered HTTP 200: ok: …". */
function outcome(a: ApiAnswer, did: string): Outcome {
  if (!a.ok) {
    const { slackError: _code, ...rest } = a;
    return rest;
  }
  return { ok: true, status: a.status, answer: { message: `ok: ${did}` } };
}

const posted = (a: Extract<ApiAnswer, { ok: true }>) => (a.channel && a.ts ? `posted to ${a.channel} as message ${a.ts}` : 'posted');

/** Sends one outbox event to a Slack target (see Driver). One attempt; a resolve that edits makes two requests. */
export const sendSlack: Driver<SlackTarget> = async (out, post) => {
  const { target } = out;
  const c: Conn = { target, secret: out.secret, hide: secretsOf(target, out.secret), now: out.now, post };
  const message = out.action === 'trigger' ? triggerMessage(out) : resolveMessage(out);
  if (target.mode === 'webhook') return viaWebhook(c, message);
  const of = { dedupKey: out.dedupKey, incidentId: out.incidentId, targetName: target.name };
  if (out.action === 'trigger') {
    const a = await callApi(c, 'chat.postMessage', { channel: target.channel, ...message, ...NO_UNFURL });
    const result = outcome(a, a.ok ? posted(a) : '');
    return a.ok && a.channel && a.ts ? { ...result, receipt: makeReceipt(out.secret, a.channel, a.ts, of) } : result;
  }
  const at = readReceipt(out.receipt, out.secret, of);
  if (at) {
    // A retry repeats the edit (the same text: idempotent), then the reply.
    // chat.update resets what it is not given: no link names, no parsing, again.
    const edit = await callApi(c, 'chat.update', { channel: at.channel, ts: at.ts, ...message, link_names: false, parse: 'none' });
    if (edit.ok) {
      const reply = await callApi(c, 'chat.postMessage', { channel: at.channel, thread_ts: at.ts, text: recoveredText(out.openedAt, out.queuedAt), ...NO_UNFURL });
      return outcome(reply, `message ${at.ts} in ${at.channel} edited, and "${recoveredText(out.openedAt, out.queuedAt)}" replied in its thread`);
    }
    if (!edit.slackError || !EDIT_GONE_ERRORS.has(edit.slackError)) return outcome(edit, '');
  }
  // No message of the trigger's to edit (none kept, not trusted, or gone): a new one names the incident.
  const a = await callApi(c, 'chat.postMessage', { channel: target.channel, ...message, ...NO_UNFURL });
  return outcome(a, a.ok ? posted(a) : '');
};

/**
 * `medic test-alert`: a test message (its resolve with `resolve`), through the same
 * requests and answer rules as a real event; nothing is kept.
 */
export async function slackTest(input: { target: SlackTarget; secret: string; resolve: boolean; host: string; now: number }, post: Poster): Promise<Outcome> {
  const { target, secret } = input;
  const c: Conn = { target, secret, hide: secretsOf(target, secret), now: input.now, post };
  const message = testMessage(input.resolve, input.host);
  if (target.mode === 'webhook') return viaWebhook(c, message);
  const a = await callApi(c, 'chat.postMessage', { channel: target.channel, ...message, ...NO_UNFURL });
  return outcome(a, a.ok ? posted(a) : '');
}

// ---------------------------------------------------------------------------------------------
// Refusals

const AUTH_ERRORS = /\b(invalid_auth|not_authed|account_inactive|token_revoked|token_expired|invalid_token|no_service|no_team|team_disabled|not_allowed_token_type)\b/;
const SHAPE_ERRORS = /\b(invalid_blocks|invalid_blocks_format|invalid_payload|msg_too_long|invalid_arguments|invalid_json|json_not_object|too_many_attachments|no_text|missing_text_or_fallback_or_attachments)\b/;
const RESTRICTED = /\b(restricted_action|action_prohibited|posting_to_general_channel_denied|ekm_access_denied)\b/;

/** What to do about a refusal Slack gave (`answer`: its error code or text), one line or two. */
export function slackRefusalHint(status: number | null, answer: string, target: SlackTarget): string {
  const again = REFUSAL_AGAIN;
  const where = describeKeyRef(keyRefOf(target));
  const noun = secretNoun(target);
  const token = target.mode === 'token';
  let cause: string;
  if (AUTH_ERRORS.test(answer) || (!token && (status === 401 || status === 403 || status === 404) && !/\b(channel_not_found|channel_is_archived|action_prohibited|posting_to_general_channel_denied)\b/.test(answer))) {
    cause = token
      ? `Slack does not take the bot token (revoked, expired, or from another workspace): make a new one (your Slack app → OAuth & Permissions → Bot User OAuth Token) and put it in ${where}`
      : `Slack does not take the incoming webhook URL (removed, or its app uninstalled): make a new one (your Slack app → Incoming Webhooks → Add New Webhook) and put it in ${where}`;
  } else if (/\bnot_in_channel\b/.test(answer)) {
    cause = `the bot is not a member of ${target.channel ?? 'the channel'}: invite it with /invite @your-app in that channel`;
  } else if (/\bchannel_not_found\b/.test(answer)) {
    cause = token
      ? `Slack finds no channel "${target.channel}": check "channel" in targets.${target.name}; use the channel id (C0123ABCD, at the bottom of the channel's details), which survives a rename`
      : `the channel the webhook was made for is gone: make a new webhook for another channel and put its URL in ${where}`;
  } else if (/\b(is_archived|channel_is_archived)\b/.test(answer)) {
    cause = token
      ? `the channel is archived: unarchive it, or set "channel" in targets.${target.name} to another one (and invite the bot there)`
      : `the webhook's channel is archived: unarchive it, or make a new webhook for another channel and put its URL in ${where}`;
  } else if (/\bmissing_scope\b/.test(answer)) {
    cause = `the bot token lacks the chat:write scope: add it (your Slack app → OAuth & Permissions → Bot Token Scopes), reinstall the app, and put the new token in ${where}`;
  } else if (RESTRICTED.test(answer)) {
    cause = "the workspace's admins do not allow this app to post there: ask them, or post to another channel";
  } else if (SHAPE_ERRORS.test(answer)) {
    cause = "Slack refused the message's shape: this is a bug in Medic; please report it with Slack's answer";
  } else if (status !== null && status >= 300 && status < 400) {
    cause = token ? `apiUrl (${urlForDisplay(target.apiUrl)}) answers with a redirect: set targets.${target.name}.apiUrl to Slack's Web API (https://slack.com/api)` : `the webhook URL answers with a redirect: put the incoming webhook's own URL in ${where}`;
  } else {
    cause = `check targets.${target.name} in the config: its ${noun} (in ${where})${token ? `, "channel" and apiUrl` : ''}`;
  }
  return `${cause}\n${again}`;
}
