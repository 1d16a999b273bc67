/** Exit codes from sysexits.h, as SPEC §6 lists them. */
export const EXIT = {
  ok: 0,
  usage: 64,
  data: 65,
  software: 70,
  ioerr: 74,
  tempfail: 75,
  rejected: 76,
  config: 78,
} as const;

/**
 * Marks a MedicError across copies of this module: dist/quick-beat.cjs is bundled on its own, with
 * its own copy of these classes, so `instanceof` alone would miss its errors.
 */
const BRAND = Symbol.for('medic.MedicError');

/**
 * Every error a user can cause is a MedicError: a one-line message, an exit code and a next step.
 * cli.ts is the only place that prints them.
 */
export class MedicError extends Error {
  readonly [BRAND] = true;
  /**
   * The message or hint quotes text Medic did not write (a config snippet, a server's answer):
   * the exit funnel then also hides key-shaped tokens in it, not only the keys it knows.
   */
  readonly quotesThirdParty: boolean;

  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
    opts: MedicErrorOptions = {},
  ) {
    super(message);
    this.name = new.target.name;
    this.quotesThirdParty = opts.quotesThirdParty === true;
  }
}

export interface MedicErrorOptions {
  quotesThirdParty?: boolean;
}

export function isMedicError(err: unknown): err is MedicError {
  return err instanceof MedicError || (err instanceof Error && (err as { [BRAND]?: boolean })[BRAND] === true);
}

/** When several delivery outcomes apply, the one a run exits with: 78, then 76, then 75. */
export function mostUrgent(codes: Iterable<number>): number | undefined {
  const seen = new Set(codes);
  return [EXIT.config, EXIT.rejected, EXIT.tempfail].find((c) => seen.has(c));
}

export class UsageError extends MedicError {
  constructor(message: string, hint?: string, opts?: MedicErrorOptions) {
    super(message, EXIT.usage, hint, opts);
  }
}

export class DataError extends MedicError {
  constructor(message: string, hint?: string, opts?: MedicErrorOptions) {
    super(message, EXIT.data, hint, opts);
  }
}

export class ConfigError extends MedicError {
  constructor(message: string, hint?: string, opts?: MedicErrorOptions) {
    super(message, EXIT.config, hint, opts);
  }
}

export class DatabaseError extends MedicError {
  constructor(message: string, hint?: string, opts?: MedicErrorOptions) {
    super(message, EXIT.ioerr, hint, opts);
  }
}

/** Shows enough of a routing key to tell two apart, never enough to use one: `a1b2…o5p6`. */
export function redactKey(key: string): string {
  return key.length <= 8 ? '…' : `${key.slice(0, 4)}…${key.slice(-4)}`;
}

/** A PagerDuty routing (integration) key: exactly 32 letters and digits. Nothing else is ever sent as one. */
export const ROUTING_KEY_SHAPE = /^[A-Za-z0-9]{32}$/;

export function looksLikeRoutingKey(value: string): boolean {
  return ROUTING_KEY_SHAPE.test(value);
}

/**
 * Hides secrets in text that came from outside (a network answer, a config snippet) before it is
 * printed or stored. `known` are keys Medic actually read: they are hidden wherever they appear,
 * case-insensitively, also where the text escaped them as `\uXXXX` (the text is decoded first).
 * With `keyShaped`, any stand-alone 32-letters-and-digits token is hidden too (third-party answers,
 * config snippets); never use that on Medic's own identifiers (slugs may be 32 such characters).
 */
export function redactSecrets(text: string, known: Iterable<string> = [], opts: { keyShaped?: boolean } = {}): string {
  let out = text.replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  for (const key of known) {
    if (key.length < 8) continue;
    out = out.replace(new RegExp(key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), (found) => shownSecret(found));
  }
  if (opts.keyShaped) out = out.replace(/(?<![A-Za-z0-9])[A-Za-z0-9]{32}(?![A-Za-z0-9])/g, (found) => (/\d/.test(found) && /[A-Za-z]/.test(found) ? redactKey(found) : found));
  return out;
}

/** Drops the `user:password@` of every URL in a text (a proxy's credentials in an error message). */
/**
 * `text` with every occurrence of the given key values shown as `a1b2…o5p6`, and nothing else
 * changed (a job's output is kept as it was printed). For text Medic stores or sends on: a job run
 * from a crontab that holds the routing key can print it.
 */
export function redactKnownKeys(text: string, keys: readonly string[]): string {
  let out = text;
  for (const key of keys) {
    if (key.length < 8) continue;
    // Any letter case: a job may print the key upper-cased.
    out = out.replace(new RegExp(key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), (found) => shownSecret(found));
  }
  return hideCutEdges(out, keys);
}

/**
 * A job's text is cut to its bounds (an output tail keeps its end, a message its start), and the cut
 * may fall inside a secret: a text that starts with the last 8 or more characters of a secret, or
 * ends with its first 8 or more, has that part hidden too (any letter case).
 */
function hideCutEdges(text: string, secrets: readonly string[]): string {
  let out = text;
  const lower = () => out.toLowerCase();
  for (const secret of secrets) {
    if (secret.length < 12) continue;
    const s = secret.toLowerCase();
    for (let k = s.length - 1; k >= 8; k--) {
      if (lower().startsWith(s.slice(-k))) {
        out = `<secret>${out.slice(k)}`;
        break;
      }
    }
    for (let k = s.length - 1; k >= 8; k--) {
      if (lower().endsWith(s.slice(0, k))) {
        out = `${out.slice(0, out.length - k)}<secret>`;
        break;
      }
    }
  }
  return out;
}

/**
 * A known secret as it may be shown: a routing key as `a1b2…o5p6` (enough to tell two apart); any
 * other secret (a Slack webhook URL or token, a signing secret, which may be as short as 16
 * characters) as `<secret>`, with nothing of it.
 */
function shownSecret(found: string): string {
  return looksLikeRoutingKey(found) ? redactKey(found) : '<secret>';
}

/** `text` with every occurrence of each secret (any letter case) replaced by `shown`: for secrets whose start and end must not show either (a ping key). */
export function hideSecrets(text: string, secrets: readonly string[], shown: string): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 8) continue;
    out = out.replace(new RegExp(secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), shown);
  }
  return out;
}

/**
 * What a job said (a signal's or a failure's message and output tail), with the given keys hidden
 * (redactKnownKeys) and any Slack token or Slack webhook URL cut to what says what it is: a job that
 * printed one leaks it, and it goes no further than Medic.
 */
export function redactJobText<T extends { message?: string | null; outputTail?: string | null }>(said: T, keys: readonly string[]): T {
  const clean = (text: string | null | undefined) => (typeof text === 'string' ? hideSlackSecrets(redactKnownKeys(text, keys)) : text);
  return { ...said, message: clean(said.message), outputTail: clean(said.outputTail) };
}

/** A Slack token (bot xoxb-, user xoxp-, and the other kinds Slack issues), not a word like "xoxo-fans". */
export const SLACK_TOKEN_IN_TEXT = /(?<![A-Za-z0-9])xox[abcdeprs]-[A-Za-z0-9-]{8,}/g;
/** A Slack incoming webhook (or workflow trigger) URL: the path after hooks.slack.com is the secret ("…/services/…" in prose is not one). */
export const SLACK_HOOK_IN_TEXT = /hooks\.slack(?:-gov)?\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9][^\s"'<>]*/gi;

/** `text` with Slack tokens and webhook URLs cut to what says what they are: `xoxb-…`, `hooks.slack.com/services/…`. */
export function hideSlackSecrets(text: string): string {
  return text
    .replace(SLACK_TOKEN_IN_TEXT, (t) => `${t.slice(0, 5)}…`)
    .replace(SLACK_HOOK_IN_TEXT, (u) => `${u.slice(0, u.indexOf('/', u.indexOf('/') + 1) + 1)}…`);
}

/**
 * [targets] The forms in which a secret may appear in a job's output or an answer besides itself:
 * for a URL (a Slack incoming webhook's is its secret), its path and its last path segment (`curl -v`
 * prints `POST /services/…`), and the URL JSON-escaped (`\/`) and percent-encoded. Each is hidden
 * like the secret (redactKnownKeys, hideSecrets); a form shorter than 8 characters is not.
 */
export function secretForms(secret: string): string[] {
  const forms = [secret];
  if (/^https?:\/\//i.test(secret)) {
    try {
      const url = new URL(secret);
      const path = url.pathname + url.search;
      forms.push(path, path.split('/').filter(Boolean).at(-1) ?? '', secret.replaceAll('/', '\\/'), encodeURIComponent(secret), encodeURIComponent(path));
    } catch {
      // not a URL after all: only the whole value
    }
  }
  return [...new Set(forms.filter((f) => f.length >= 8))];
}

export function stripUserinfo(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi, '$1');
}

/**
 * A URL as Medic may print it: without userinfo, and with key-shaped tokens hidden (a key pasted
 * into a URL is config text, not an identifier of ours).
 */
export function urlForDisplay(url: string): string {
  let shown: string;
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    shown = u.href;
  } catch {
    shown = stripUserinfo(url);
  }
  return redactSecrets(shown, [], { keyShaped: true });
}

/**
 * The routing keys the exit funnel hides wherever they appear: every value in the environment
 * shaped like one (PAGERDUTY_ROUTING_KEY and whatever variables the targets name).
 */
export function keysInEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  return Object.values(env)
    .map((v) => v?.trim() ?? '')
    .filter(looksLikeRoutingKey);
}
