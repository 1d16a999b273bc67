import { describe, expect, it } from 'vitest';
import { summarizeProfile, summarizeStatementLog } from '../../bench/pg.mjs';

// Lines as PostgreSQL 15 writes them with log_min_duration_statement = 0 (captured from a real server).
const LOG = [
  "2026-11-30 00:01:54.338 UTC [15537] LOG:  duration: 0.643 ms  parse <unnamed>: SELECT $1::int AS x",
  "2026-11-30 00:01:54.339 UTC [15537] LOG:  duration: 0.086 ms  bind <unnamed>: SELECT $1::int AS x",
  "2026-11-30 00:01:54.339 UTC [15537] DETAIL:  parameters: $1 = '1'",
  "2026-11-30 00:01:54.339 UTC [15537] LOG:  duration: 0.006 ms  execute <unnamed>: SELECT $1::int AS x",
  "2026-11-30 00:01:54.339 UTC [15537] DETAIL:  parameters: $1 = '1'",
  '2026-11-30 00:01:54.355 UTC [15539] LOG:  duration: 0.971 ms  statement: SELECT 1',
  '\t  FROM pg_class',
  '\t  LIMIT 1',
  '2026-11-30 00:01:54.356 UTC [15539] LOG:  duration: 2.000 ms  statement: COMMIT',
  '2026-11-30 00:01:54.357 UTC [15539] LOG:  duration: 3.000 ms  statement: COMMIT',
  '2026-11-30 00:01:54.358 UTC [15540] LOG:  checkpoint starting: time',
].join('\n');

describe('summarizeStatementLog (bench part 8: PostgreSQL time by statement)', () => {
  const summary = summarizeStatementLog(LOG);
  const bySql = new Map(summary.top.map((s) => [s.sql, s]));

  it.each([
    // sql, calls, total ms, max ms
    ['SELECT $1::int AS x', 1, 0.735, 0.643], // parse + bind + execute: one call, three phases of server time
    ['SELECT 1 FROM pg_class LIMIT 1', 1, 0.971, 0.971], // continuation lines joined, spaces collapsed
    ['COMMIT', 2, 5, 3],
  ])('%s: %i call(s), %f ms in all, %f ms at most', (sql, calls, total, max) => {
    const s = bySql.get(sql);
    expect(s).toBeDefined();
    expect(s!.calls).toBe(calls);
    expect(s!.ms).toBeCloseTo(total, 6);
    expect(s!.maxMs).toBeCloseTo(max, 6);
  });

  it('counts calls, not phases, and sorts by total time; lines without a duration are not statements', () => {
    expect(summary.statements).toBe(4);
    expect(summary.distinct).toBe(3);
    expect(summary.totalMs).toBeCloseTo(6.706, 6);
    expect(summary.top.map((s) => s.sql)).toEqual(['COMMIT', 'SELECT 1 FROM pg_class LIMIT 1', 'SELECT $1::int AS x']);
  });

  it('an empty log is no statements', () => {
    expect(summarizeStatementLog('')).toEqual({ totalMs: 0, statements: 0, distinct: 0, top: [] });
  });
});

describe('summarizeProfile (bench part 8: where a check spends its time)', () => {
  const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('(garbage collector)') },
      { id: 4, callFrame: frame('parseRow', 'file:///repo/node_modules/pg/lib/result.js', 62) },
      { id: 5, callFrame: frame('evaluateAll', 'file:///repo/dist/check-ABC.js', 328) },
      { id: 6, callFrame: frame('request', 'file:///repo/node_modules/undici/index.js', 9) },
      { id: 7, callFrame: frame('internalConnect', 'node:net', 1037) },
      { id: 8, callFrame: frame('writev') },
    ],
    // timeDeltas are in µs: each sample is charged to the node it names.
    samples: [2, 2, 3, 4, 5, 5, 5, 6, 7, 8],
    timeDeltas: [1000, 1000, 500, 250, 2000, 2000, 2000, 100, 300, 400],
  };

  it.each([
    ['idle (waiting: PostgreSQL, network)', 2],
    ['GC', 0.5],
    ['pg (client)', 0.25],
    ['medic', 6],
    ['other packages', 0.1],
    ['node internals', 0.3],
    ['native (sockets, files; no JS frame)', 0.4],
  ])('%s: %f ms', (where, ms) => {
    const area = summarizeProfile(profile).areas.find((a) => a.where === where);
    expect(area?.ms).toBeCloseTo(ms, 6);
  });

  it('ranks functions by self time, named with their file and 1-based line', () => {
    const { top, totalMs } = summarizeProfile(profile);
    expect(totalMs).toBeCloseTo(9.55, 6);
    expect(top[0]).toEqual({ fn: 'evaluateAll check-ABC.js:329', where: 'medic', ms: 6 });
    expect(top[1]?.fn).toBe('(idle) ');
  });
});
