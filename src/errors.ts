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
  return hideCutEdges(hideRuns(out, keys), keys);
}

/** A run of this many characters of a secret, anywhere, is hidden: a part of one printed (cut, folded, offset) still is one. */
const SECRET_RUN = 16;

/** ASCII letters lower-cased, nothing else changed: the same length, so indexes still match. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * Every run of SECRET_RUN or more characters of a secret (any letter case) shown as `<secret>`:
 * a job that folded a secret over two lines, printed it with a few characters cut off, or whose
 * tail was cut inside it. Forms of a URL (with `/` or `%`) are matched whole only: their start
 * (`https://`, `/services/`) is shared by every such URL.
 */
function hideRuns(text: string, secrets: readonly string[]): string {
  // Every run of the secrets in one set; the text is walked once (64 KB of output: a few ms).
  const runs = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < SECRET_RUN || /[/%]/.test(secret)) continue;
    const s = asciiLower(secret);
    for (let i = 0; i + SECRET_RUN <= s.length; i++) runs.add(s.slice(i, i + SECRET_RUN));
  }
  if (runs.size === 0 || text.length < SECRET_RUN) return text;
  const lower = asciiLower(text);
  let out = '';
  let from = 0;
  let hiddenTo = -1;
  for (let at = 0; at + SECRET_RUN <= lower.length; at++) {
    if (!runs.has(lower.slice(at, at + SECRET_RUN))) continue;
    // Overlapping or touching runs make one hidden stretch.
    if (at > hiddenTo) {
      if (hiddenTo >= 0) from = hiddenTo;
      out += `${text.slice(from, at)}<secret>`;
      from = at;
    }
    hiddenTo = at + SECRET_RUN;
  }
  return hiddenTo < 0 ? text : out + text.slice(hiddenTo);
}

/**
 * A job's text is cut to its bounds (an output tail keeps its end, a message its start), and the cut
 * may fall inside a secret: a text that starts with the last 8 or more characters of a secret, or
 * ends with its first 8 or more, has that part hidden too (any letter case).
 */
function hideCutEdges(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    // A URL's forms start and end like every other URL's ("https://", "/services"): its last segment stands for it.
    if (secret.length < 12 || /[/%]/.test(secret)) continue;
    const s = asciiLower(secret);
    // Only the ends of the text can hold a cut secret: look at as much of them as the secret is long.
    const head = asciiLower(out.slice(0, s.length));
    for (let k = s.length - 1; k >= 8; k--) {
      if (head.startsWith(s.slice(-k))) {
        out = `<secret>${out.slice(k)}`;
        break;
      }
    }
    const tail = asciiLower(out.slice(-s.length));
    for (let k = s.length - 1; k >= 8; k--) {
      if (tail.endsWith(s.slice(0, k))) {
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

/** A Slack token (bot xoxb-, user xoxp-, the other xox?- kinds, app-level xapp-), not a word like "xoxo-fans". */
export const SLACK_TOKEN_IN_TEXT = /(?<![A-Za-z0-9])(?:xox[abcdeprs]|xapp)-[A-Za-z0-9-]{8,}/g;
/**
 * A Slack incoming webhook (or workflow trigger) URL: the path after hooks.slack.com is the secret
 * ("…/services/…" in prose is not one); also JSON-escaped (`\/`) or percent-encoded (`%2F`).
 */
export const SLACK_HOOK_IN_TEXT = /hooks\.slack(?:-gov)?\.com(?:\/|\\\/|%2F)(?:services|workflows|triggers)(?:\/|\\\/|%2F)[A-Za-z0-9][^\s"'<>]*/gi;
/** A Slack incoming webhook's path on its own (`curl -v` prints `POST /services/T…/B…/… HTTP/1.1`). */
const SLACK_HOOK_PATH = /\/services\/T[A-Z0-9]{6,}\/B[A-Z0-9]{6,}\/[A-Za-z0-9]{8,}/g;

/** `text` with Slack tokens and webhook URLs cut to what says what they are: `xoxb-…`, `hooks.slack.com/services/…`. */
export function hideSlackSecrets(text: string): string {
  return text
    .replace(SLACK_TOKEN_IN_TEXT, (t) => `${t.slice(0, 5)}…`)
    .replace(SLACK_HOOK_IN_TEXT, 'hooks.slack.com/services/…')
    .replace(SLACK_HOOK_PATH, '/services/…');
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
  // Encoded whole (a job that base64s or hex-dumps its config): matched whole, like the secret.
  forms.push(Buffer.from(secret, 'utf8').toString('base64').replace(/=+$/, ''), Buffer.from(secret, 'utf8').toString('hex'));
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
