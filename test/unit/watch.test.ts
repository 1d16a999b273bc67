/**
 * `medic status --watch`: the pure parts (what changed, the header, the marked rows, --interval)
 * as tables, and the refresh loop with its dependencies given: it restores the terminal however it
 * ends and shows a read error in the view instead of ending.
 */
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import type { ServiceStatus, StatusReport } from '../../src/commands/status.js';
import { changeLine, changes, ENTER, header, HOME_CLEAR, LEAVE, markRows, watch, watchInterval, type WatchDeps } from '../../src/commands/watch.js';
import { isMedicError } from '../../src/errors.js';
import { statusTable } from '../../src/output.js';

const plain = new Chalk({ level: 0 });
const AT = Date.parse('2026-11-30T04:00:00Z');

function row(slug: string, state: ServiceStatus['state']): ServiceStatus {
  return {
    slug,
    name: slug,
    team: null,
    priority: 'P3',
    state,
    lastSeen: null,
    deadline: '2026-11-30T04:05:00.000Z',
    lateAt: '2026-11-30T04:05:00.000Z',
    missedHeartbeats: 0,
    incidentOpen: false,
    incidentSince: null,
    pendingEvents: 0,
    refusedEvents: 0,
    delivery: null,
    deliveryProblem: null,
    muted: null,
    flapping: false,
    interval: '5m',
    grace: '1m',
    threshold: 1,
    targets: [],
    schedule: null,
    timezone: null,
    timezoneSource: null,
    maxRuntime: null,
    downReason: null,
    runningSince: null,
    failure: null,
    lastCheckAt: null,
    lastCheckBy: null,
  };
}

const report = (...rows: [string, ServiceStatus['state']][]): StatusReport => ({ rows: rows.map(([s, st]) => row(s, st)), lastCheckAt: null, lastCheckBy: null, lastGap: null });

describe('changes between two snapshots', () => {
  it.each<[string, StatusReport | null, StatusReport, { slug: string; from: string; to: string }[]]>([
    ['the first snapshot has none', null, report(['api', 'down']), []],
    ['nothing changed', report(['api', 'up']), report(['api', 'up']), []],
    ['one service came back', report(['api', 'down'], ['db', 'up']), report(['api', 'up'], ['db', 'up']), [{ slug: 'api', from: 'down', to: 'up' }]],
    [
      'several, in the order of the new snapshot',
      report(['a', 'up'], ['b', 'new'], ['c', 'late']),
      report(['c', 'down'], ['b', 'up'], ['a', 'paused']),
      [
        { slug: 'c', from: 'late', to: 'down' },
        { slug: 'b', from: 'new', to: 'up' },
        { slug: 'a', from: 'up', to: 'paused' },
      ],
    ],
    ['a service added to the config is no change of state', report(['a', 'up']), report(['a', 'up'], ['b', 'new']), []],
    ['a service removed from the config is none either', report(['a', 'up'], ['b', 'down']), report(['a', 'up']), []],
  ])('%s', (_name, prev, next, expected) => {
    expect(changes(prev, next)).toEqual(expected);
  });
});

describe('the change line and the header', () => {
  it.each<[string, { slug: string; from: string; to: string }[], string]>([
    ['one change', [{ slug: 'api', from: 'down', to: 'up' }], 'changed: api down → up'],
    [
      'two changes',
      [
        { slug: 'api', from: 'down', to: 'up' },
        { slug: 'db', from: 'up', to: 'late' },
      ],
      'changed: api down → up, db up → late',
    ],
  ])('%s', (_name, list, expected) => {
    expect(changeLine(list)).toBe(expected);
  });

  it.each<[string, string, number, boolean, string]>([
    ['time, config, interval, how to quit', '/srv/medic.config.json', 2000, true, 'medic status --watch · 2026-11-30T04:00:00.000Z · /srv/medic.config.json · every 2s · q or Ctrl-C to quit'],
    ['a config path with a control character is escaped', '/srv/\u001b]0;x\u0007.json', 60_000, true, 'medic status --watch · 2026-11-30T04:00:00.000Z · /srv/\\x1b]0;x\\x07.json · every 1m · q or Ctrl-C to quit'],
    ['stdin not a terminal: q never arrives, only Ctrl-C is offered', '/srv/medic.config.json', 2000, false, 'medic status --watch · 2026-11-30T04:00:00.000Z · /srv/medic.config.json · every 2s · Ctrl-C to quit'],
  ])('header: %s', (_name, file, intervalMs, keys, expected) => {
    expect(header(AT, file, intervalMs, keys)).toBe(expected);
  });
});

describe('markRows', () => {
  const r = report(['api', 'up'], ['db', 'down']);
  const table = statusTable(r, AT, plain);

  it.each<[string, string[], string[]]>([
    ['no change: every row gets two spaces, columns stay aligned', [], ['  SERVICE', '  api', '  db']],
    ['the changed row gets a * (a mark, not only a colour)', ['db'], ['  SERVICE', '  api', '* db']],
    ['both changed', ['api', 'db'], ['  SERVICE', '* api', '* db']],
  ])('%s', (_name, changed, starts) => {
    const lines = markRows(table, r, changed.map((slug) => ({ slug, from: 'x', to: 'y' }))).split('\n');
    expect(lines.slice(0, 3).map((l, i) => l.slice(0, starts[i]!.length))).toEqual(starts);
    expect(lines.slice(0, 3).map((l) => l.slice(2))).toEqual(table.split('\n').slice(0, 3));
    // The checker line under the rows is left as it is.
    expect(lines[3]).toBe(table.split('\n')[3]);
  });

  it('no services configured: the table is left as it is', () => {
    const empty = report();
    const t = statusTable(empty, AT, plain);
    expect(markRows(t, empty, [])).toBe(t);
  });
});

describe('--interval', () => {
  it.each<[string | undefined, number]>([
    [undefined, 2000],
    ['1s', 1000],
    ['5s', 5000],
    ['1m', 60_000],
    ['3', 3000],
  ])('%s → %d ms', (value, ms) => {
    expect(watchInterval(value)).toBe(ms);
  });

  it.each(['500ms', '0s', '0', 'soon', '-1s', ''])('%s is refused with exit 64', (value) => {
    let err: unknown;
    try {
      watchInterval(value);
    } catch (e) {
      err = e;
    }
    expect(isMedicError(err) && err.exitCode).toBe(64);
    expect((err as Error).message).toContain('at least 1s');
  });
});

/** The loop's dependencies: reads answered in turn, quitting after the given number of frames. */
function harness(reads: (() => StatusReport)[], opts: { quitAfter: number; writeThrowsAt?: number }) {
  const out: string[] = [];
  const events: string[] = [];
  let quit = () => {};
  let n = 0;
  let frames = 0;
  const deps: WatchDeps = {
    intervalMs: 1000,
    configFile: '/srv/medic.config.json',
    keys: true,
    now: () => AT,
    read: async () => ({ report: reads[Math.min(n++, reads.length - 1)]!(), at: AT }),
    render: (rep, at) => statusTable(rep, at, plain),
    explain: (err) => (err as Error).message,
    write: (text) => {
      if (text.startsWith(HOME_CLEAR) && ++frames === opts.writeThrowsAt) throw new Error('terminal gone');
      out.push(text);
    },
    listen: (q) => {
      quit = q;
      events.push('listen');
      return () => events.push('unlisten');
    },
    sleep: async () => {
      if (frames >= opts.quitAfter) quit();
    },
  };
  return { deps, out, events };
}

describe('the refresh loop', () => {
  it('draws frames on the alternate screen, marks a change, and restores the terminal on quit', async () => {
    const h = harness([() => report(['api', 'down']), () => report(['api', 'up']), () => report(['api', 'up'])], { quitAfter: 3 });
    await watch(h.deps);
    expect(h.out[0]).toBe(ENTER);
    expect(h.out.at(-1)).toBe(LEAVE);
    const frames = h.out.slice(1, -1);
    expect(frames).toHaveLength(3);
    expect(frames.every((f) => f.startsWith(HOME_CLEAR))).toBe(true);
    expect(frames[0]).toContain('no change since the watch began');
    expect(frames[1]).toContain('changed: api down → up');
    expect(frames[1]).toMatch(/^\* api +up/m);
    expect(frames[2]).toContain('no change since the last refresh (last one at 2026-11-30T04:00:00.000Z: changed: api down → up)');
    expect(frames[2]).toMatch(/^ {2}api +up/m);
    expect(h.events).toEqual(['listen', 'unlisten']);
  });

  it('a read that fails is shown in the view and tried again; the table comes back when it reads', async () => {
    const h = harness(
      [
        () => {
          throw new Error('cannot open the database /srv/medic.db: unable to open database file');
        },
        () => report(['api', 'up']),
      ],
      { quitAfter: 2 },
    );
    await watch(h.deps);
    expect(h.out[1]).toContain('cannot read the state: cannot open the database /srv/medic.db: unable to open database file');
    expect(h.out[1]).toContain('trying again every 1s');
    expect(h.out[2]).toMatch(/^ {2}api +up/m);
    expect(h.out.at(-1)).toBe(LEAVE);
  });

  it('an error in the view itself ends the watch, and the terminal is restored first', async () => {
    const h = harness([() => report(['api', 'up'])], { quitAfter: 5, writeThrowsAt: 2 });
    await expect(watch(h.deps)).rejects.toThrow('terminal gone');
    expect(h.out.at(-1)).toBe(LEAVE);
    expect(h.events).toEqual(['listen', 'unlisten']);
  });

  it('an error message with control characters cannot act on the terminal', async () => {
    const h = harness(
      [
        () => {
          throw new Error('bad \u001b[2J\rfile');
        },
      ],
      { quitAfter: 1 },
    );
    await watch(h.deps);
    expect(h.out[1]).toContain('bad \\x1b[2J\\rfile');
    expect(h.out[1]!.slice(HOME_CLEAR.length)).not.toMatch(/[\u001b\r]/);
  });
});

describe('quitting while a read hangs', () => {
  it('q ends the watch at once and restores the terminal, without waiting for the read', async () => {
    const out: string[] = [];
    let quit = () => {};
    const deps: WatchDeps = {
      intervalMs: 1000,
      configFile: '/srv/medic.config.json',
      keys: true,
      now: () => AT,
      read: () => new Promise(() => {}),
      render: () => '',
      explain: String,
      write: (text) => out.push(text),
      listen: (q) => {
        quit = q;
        return () => {};
      },
      sleep: async () => {},
    };
    const done = watch(deps);
    await new Promise((r) => setTimeout(r, 20));
    quit();
    await done;
    expect(out).toEqual([ENTER, LEAVE]);
  });

  it('a bug in drawing the table is not taken for a read error: it ends the watch, the terminal restored', async () => {
    const h = harness([() => report(['api', 'up'])], { quitAfter: 5 });
    await expect(
      watch({
        ...h.deps,
        render: () => {
          throw new TypeError('no table');
        },
      }),
    ).rejects.toThrow('no table');
    expect(h.out).toEqual([ENTER, LEAVE]);
  });
});
