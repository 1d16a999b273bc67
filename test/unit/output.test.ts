/**
 * Terminal and log injection: text from outside (a server's answer, a pause reason, a name) never
 * acts on the terminal or forges a line; JSON output stays exact.
 */
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import type { HistoryReport } from '../../src/commands/history.js';
import type { ServiceStatus, StatusReport } from '../../src/commands/status.js';
import { formatError, historyJson, historyText, jsonSafe, printable, printableLines, statusTable } from '../../src/output.js';

const plain = new Chalk({ level: 0 });
const coloured = new Chalk({ level: 1 });
/** Everything a terminal would act on. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
/** A PagerDuty answer written by an attacker: window title, screen clear, carriage return, an OSC 8 hyperlink, a forged line, bidi override. */
const HOSTILE = 'Event\u001b]0;pwned\u0007 \u001b[2J\rmedic: ok\n\u001b]8;;https://evil.example\u001b\\click\u001b]8;;\u001b\\ \u202egnp.exe\u009b31m\u007f';

describe('printable', () => {
  it.each<[string, string, string]>([
    ['plain text stays as it is', 'Event object is invalid', 'Event object is invalid'],
    ['non-ASCII text stays', 'Zürich → 東京 ✓', 'Zürich → 東京 ✓'],
    ['ESC (colours, cursor moves)', '\u001b[2J', '\\x1b[2J'],
    ['an OSC window title', '\u001b]0;pwned\u0007', '\\x1b]0;pwned\\x07'],
    ['an OSC 8 hyperlink', '\u001b]8;;https://evil.example\u001b\\x', '\\x1b]8;;https://evil.example\\x1b\\x'],
    ['a carriage return that would overwrite the line', 'bad\rmedic: ok', 'bad\\rmedic: ok'],
    ['a line feed that would forge a line', 'bad\nmedic: ok', 'bad\\nmedic: ok'],
    ['a tab', 'a\tb', 'a\\tb'],
    ['DEL and NUL', '\u007f\u0000', '\\x7f\\x00'],
    ['C1 controls (CSI)', '\u009b31m', '\\x9b31m'],
    ['bidi overrides and isolates', '\u202egnp.exe\u2066x\u2069', '\\u202egnp.exe\\u2066x\\u2069'],
    ['line and paragraph separators', 'a\u2028b\u2029c', 'a\\u2028b\\u2029c'],
  ])('%s', (_name, input, expected) => {
    expect(printable(input)).toBe(expected);
  });

  it('printableLines keeps Medic\'s own line breaks and escapes the rest', () => {
    expect(printableLines('one\u001b[31m\ntwo\r')).toBe('one\\x1b[31m\ntwo\\r');
  });
});

function pausedRow(): ServiceStatus {
  return {
    slug: 'backup',
    name: `Backup ${HOSTILE}`,
    team: null,
    priority: 'P3',
    state: 'paused',
    lastSeen: null,
    deadline: '2026-11-26T12:06:00.000Z',
    lateAt: '2026-11-26T12:05:00.000Z',
    missedHeartbeats: 0,
    incidentOpen: false,
    incidentSince: null,
    pendingEvents: 0,
    refusedEvents: 0,
    delivery: null,
    deliveryProblem: null,
    muted: { kind: 'paused', reason: HOSTILE, until: null },
    flapping: false,
    interval: '5m',
    grace: '1m',
    threshold: 1,
    targets: ['oncall'],
    schedule: null,
    timezone: null,
    timezoneSource: null,
    maxRuntime: null,
    downReason: null,
    runningSince: null,
    failure: null,
    lastCheckAt: '2026-11-26T11:59:48.000Z',
    lastCheckBy: HOSTILE,
  } satisfies ServiceStatus;
}

describe('every human output escapes what came from outside', () => {
  it('an error quoting a hostile answer: one line per line of Medic\'s, no control character, colours intact', () => {
    const text = formatError(`PagerDuty rejected the trigger for backup (HTTP 400): ${HOSTILE.replace('\n', ' ')}\n2 events not yet delivered`, `see ${HOSTILE}`, coloured);
    const withoutColours = text.replace(/\u001b\[\d+m/g, '');
    expect(withoutColours).not.toMatch(CONTROL);
    expect(withoutColours.split('\n').filter((l) => l.startsWith('medic: '))).toHaveLength(1);
    expect(text).toContain('\u001b[31m'); // Medic's own colour is still there
    expect(formatError(HOSTILE, undefined, plain)).not.toMatch(CONTROL);
  });

  it('the status table: a pause reason with escapes, a slug, every cell', () => {
    const row = pausedRow();
    const now = Date.parse('2026-11-26T12:00:00Z');
    // The last checker's host comes from the database: a writer could have planted anything there.
    const report: StatusReport = { rows: [row], lastCheckAt: now - 12_000, lastCheckBy: HOSTILE, lastGap: null };
    const text = statusTable(report, now, plain);
    expect(text).toContain('last check 12s ago by ');
    expect(text).not.toMatch(CONTROL);
    expect(text).toContain('\\x1b]0;pwned\\x07');
    expect(text.split('\n').some((l) => l.startsWith('medic: ok'))).toBe(false);
  });

  it('a last beat or last check stamped ahead of now is not shown as "ago"', () => {
    const now = Date.parse('2026-11-26T12:00:00Z');
    const row = { ...pausedRow(), lastSeen: '2026-11-26T12:07:00.000Z' };
    const text = statusTable({ rows: [row], lastCheckAt: now + 6 * 60_000, lastCheckBy: 'checker-1', lastGap: null }, now, plain);
    expect(text).toContain('7m in the future (is a clock ahead?)');
    expect(text).toContain('last check 6m in the future (is a clock ahead?) by checker-1');
    expect(text).not.toContain('ago');
  });

  it('history: a delivery detail quoting a hostile answer, a state reason; --json stays exact', () => {
    const h: HistoryReport = {
      slug: 'backup',
      removed: false,
      schedule: null,
      timezone: null,
      timezoneSource: null,
      since: Date.parse('2026-11-26T00:00:00Z'),
      until: Date.parse('2026-11-26T12:00:00Z'),
      bucketMs: 3_600_000,
      strip: new Array(12).fill(0),
      events: [
        { at: Date.parse('2026-11-26T06:00:00Z'), kind: 'state', from: 'up', to: 'down', reason: `paused: ${HOSTILE}`, recordedAt: Date.parse('2026-11-26T06:00:00Z') },
        { at: Date.parse('2026-11-26T06:00:01Z'), kind: 'delivery', target: 'oncall', action: 'trigger', outcome: 'rejected', detail: `HTTP 400 — ${HOSTILE}` },
      ],
    };
    const text = historyText(h, plain);
    expect(text).not.toMatch(CONTROL);
    expect(text.split('\n').some((l) => l.startsWith('medic: ok'))).toBe(false);
    const json = JSON.parse(historyJson(h));
    expect(json.events[1].detail).toBe(`HTTP 400 — ${HOSTILE}`);
  });

  it.each([
    [false, 'backup (removed from the config): beats per'],
    [true, 'backup (not in the valid part of the config): beats per'],
  ])('history of a service missing from the config (part of the config invalid: %s) says which', (partialConfig, header) => {
    const h: HistoryReport = { slug: 'backup', removed: true, schedule: null, timezone: null, timezoneSource: null, since: 0, until: 60_000, bucketMs: 60_000, strip: [0], events: [] };
    expect(historyText(h, plain, { partialConfig }).split('\n')[0]).toMatch(new RegExp(`^${header.replace(/[()]/g, '\\$&')}`));
  });
});

describe('jsonSafe: --json output without raw C1, bidi or separator characters', () => {
  it.each([
    ['\u0085 NEL', '\\u0085 NEL'],
    ['\u009b31m CSI', '\\u009b31m CSI'],
    ['\u007f DEL', '\\u007f DEL'],
    ['\u202egnp.exe', '\\u202egnp.exe'],
    ['\u2066isolate\u2069', '\\u2066isolate\\u2069'],
    ['\u200e\u200f\u061c marks', '\\u200e\\u200f\\u061c marks'],
    ['line\u2028para\u2029', 'line\\u2028para\\u2029'],
    ['plain é ✓ 日本', 'plain é ✓ 日本'],
  ])('%j', (text, escaped) => {
    const json = jsonSafe(JSON.stringify({ message: text }));
    expect(json).toBe(`{"message":"${escaped}"}`);
    expect(JSON.parse(json)).toEqual({ message: text });
  });

  it('leaves no character a terminal acts on in a whole report, and keeps its value', () => {
    const value = { slug: 'web', events: [{ message: HOSTILE, [`key${HOSTILE}`]: 1 }] };
    const json = jsonSafe(JSON.stringify(value, null, 2));
    expect(json).not.toMatch(CONTROL);
    expect(JSON.parse(json)).toEqual(value);
  });
});
