import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMedicError } from '../../src/errors.js';
import { OUTPUT_TAIL_MAX_BYTES } from '../../src/core/signal.js';
import { ingestSpool, SPOOL_DETAILS_MAX_BYTES, SPOOL_MAX_PER_RUN, type SpoolDeps, writeSpoolEntry } from '../../src/spool.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { isRoot, query, tempDir } from '../helpers/db.js';

const NOW = Date.parse('2026-03-02T09:00:00Z');
const DAY = 86_400_000;
const SERVICES = new Map([
  ['svc-1', {}],
  ['a.b_c', {}],
]);
const uid = process.getuid?.() ?? 0;

/** A temp folder holding a spool (mode 1733) and a database; `ingest` runs one check's ingestion. */
function setUp() {
  const dir = tempDir('medic-spool-');
  // In a folder of its own: the database's folder must stay private (the store refuses it otherwise).
  const spool = join(dir, 'shared', 'spool');
  mkdirSync(spool, { recursive: true });
  chmodSync(spool, 0o1733);
  const dbPath = join(dir, 'medic.db');
  const lines: { notice: string[]; verbose: string[] } = { notice: [], verbose: [] };
  const ingest = async (over: Partial<SpoolDeps> = {}) => {
    const store = openSqliteStore(dbPath);
    try {
      return await ingestSpool(spool, {
        store,
        services: SERVICES,
        now: NOW,
        retentionMs: 30 * DAY,
        uid,
        verbose: (l) => lines.verbose.push(l),
        notice: (l) => lines.notice.push(l),
        ...over,
      });
    } finally {
      await store.close();
    }
  };
  const beats = () => query<{ slug: string; at: number }>(dbPath, 'SELECT slug, at FROM beats ORDER BY id');
  const touch = (name: string) => writeFileSync(join(spool, name), '');
  return { dir, spool, dbPath, lines, ingest, beats, touch };
}

async function refusal(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'accepted';
  } catch (err) {
    if (!isMedicError(err)) throw err;
    return `exit ${err.exitCode}: ${err.message}`;
  }
}

describe('medic beat with a spool: one new empty file, no database', () => {
  it('names the file <slug>.<epoch-ms>.<pid>.<random> and writes nothing in it', () => {
    const { spool, dbPath } = setUp();
    const name = writeSpoolEntry(spool, 'a.b_c', NOW, 4242);
    expect(name).toMatch(/^a\.b_c\.1772442000000\.4242\.[a-z0-9]{1,8}$/);
    expect(readFileSync(join(spool, name), 'utf8')).toBe('');
    expect(existsSync(dbPath)).toBe(false);
  });

  it('two beats in the same millisecond from the same process make two files', () => {
    const { spool } = setUp();
    writeSpoolEntry(spool, 'svc-1', NOW, 1);
    writeSpoolEntry(spool, 'svc-1', NOW, 1);
    expect(readdirSync(spool)).toHaveLength(2);
  });

  it.each([
    ['a missing folder', (spool: string) => execFileSync('rmdir', [spool]), 'it does not exist'],
    ['a folder every user can write without the sticky bit', (spool: string) => chmodSync(spool, 0o777), 'lacks the sticky bit'],
    ['a symbolic link to a folder', (spool: string) => {
      execFileSync('mv', [spool, `${spool}-real`]);
      symlinkSync(`${spool}-real`, spool);
    }, 'symbolic link'],
    ['a file', (spool: string) => {
      execFileSync('rmdir', [spool]);
      writeFileSync(spool, '');
    }, 'not a folder'],
  ])('refuses %s (74), saying why', async (_label, breakIt, why) => {
    const { spool } = setUp();
    breakIt(spool);
    const got = await refusal(async () => writeSpoolEntry(spool, 'svc-1', NOW, 1));
    expect(got).toMatch(/^exit 74: cannot (write into|use) spool folder /);
    expect(got).toContain(why);
  });
});

describe('medic check ingests the spool: every entry is untrusted input', () => {
  it('records a beat at the time its name gives and deletes the file', async () => {
    const { ingest, beats, touch, spool } = setUp();
    touch(`svc-1.${NOW - 60_000}.100.abc`);
    touch(`a.b_c.${NOW - 1000}.101.x9`);
    const report = await ingest();
    expect(report.recorded).toBe(2);
    expect(beats()).toEqual([
      { slug: 'svc-1', at: NOW - 60_000 },
      { slug: 'a.b_c', at: NOW - 1000 },
    ]);
    expect(readdirSync(spool)).toEqual([]);
  });

  it.each([
    ['a time in the future is capped at the check’s now', `svc-1.${NOW + 365 * DAY}.1.abc`, [{ slug: 'svc-1', at: NOW }], /carried a time after now/],
    ['a slug that is not in the config is deleted, unrecorded, and named in a notice', `other-job.${NOW}.1.abc`, [], /deleted 1 spool entry for services not in the config: other-job/],
    ['a time older than the retention is deleted, unrecorded', `svc-1.${NOW - 31 * DAY}.1.abc`, [], null],
    ['an uppercase slug is not a beat', `SVC-1.${NOW}.1.abc`, [], /not beats/],
    ['a name with a control character is not a beat', `svc-1\n.${NOW}.1.abc`, [], /not beats/],
    ['a name with an escape sequence is not a beat', `svc-1\u001b]0;owned\u0007.${NOW}.1.abc`, [], /not beats/],
    ['a name without its parts is not a beat', 'svc-1', [], /not beats/],
    ['a time that is not a number is not a beat', `svc-1.12e5.1.abc`, [], /not beats/],
  ])('%s', async (_label, name, recorded, notice) => {
    const { ingest, beats, touch, spool, lines } = setUp();
    touch(name);
    await ingest();
    expect(beats()).toEqual(recorded);
    expect(readdirSync(spool)).toEqual([]);
    if (notice) expect(lines.notice.join('\n')).toMatch(notice);
    else expect(lines.notice).toEqual([]);
    // What is printed never carries the raw name's control characters.
    expect(lines.notice.join('\n')).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
  });

  it('a name with a path separator cannot reach another folder: the beat side refuses the slug first', () => {
    const { spool, dir } = setUp();
    // `medic beat` checks the slug rule before anything (commands/beat.ts); here the writer itself
    // is given one, and O_CREAT|O_EXCL|O_NOFOLLOW under the spool folder cannot leave it either.
    expect(() => writeSpoolEntry(spool, '../escape', NOW, 1)).toThrow();
    expect(readdirSync(dirname(spool))).toEqual(['spool']);
    expect(readdirSync(dir)).toEqual(['shared']);
  });

  it('a symbolic link to /etc/passwd is removed without being followed or read', async () => {
    const { ingest, beats, spool, dir } = setUp();
    const before = readFileSync('/etc/passwd', 'utf8');
    symlinkSync('/etc/passwd', join(spool, `svc-1.${NOW}.1.abc`));
    // A link to a FIFO would block any open() for ever: the test would time out if one happened.
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    symlinkSync(join(dir, 'fifo'), join(spool, `a.b_c.${NOW}.2.abc`));
    await ingest();
    expect(readdirSync(spool)).toEqual([]);
    expect(beats()).toEqual([]);
    expect(readFileSync('/etc/passwd', 'utf8')).toBe(before);
    expect(lstatSync(join(dir, 'fifo')).isFIFO()).toBe(true);
  });

  it('a FIFO, a folder and a folder with contents: removed without being opened (a full folder is left)', async () => {
    const { ingest, beats, spool, lines } = setUp();
    execFileSync('mkfifo', [join(spool, `svc-1.${NOW}.1.abc`)]);
    mkdirSync(join(spool, `svc-1.${NOW}.2.abc`));
    mkdirSync(join(spool, 'full'));
    writeFileSync(join(spool, 'full', 'x'), '');
    const report = await ingest();
    expect(beats()).toEqual([]);
    expect(readdirSync(spool)).toEqual(['full']);
    expect(report.junk).toBe(2);
    expect(report.waiting).toBe(1);
    expect(lines.notice.join('\n')).toMatch(/deleted 2 spool entries that are not beats/);
  });

  it('never moves a service’s last beat back: entries older than it are dropped', async () => {
    const { ingest, beats, touch, dbPath } = setUp();
    const store = openSqliteStore(dbPath);
    await store.recordBeat('svc-1', NOW - 1000);
    await store.close();
    touch(`svc-1.${NOW - 5000}.1.abc`);
    touch(`svc-1.${NOW - 500}.1.abc`);
    touch(`svc-1.${NOW - 2000}.1.abc`);
    await ingest();
    expect(beats()).toEqual([
      { slug: 'svc-1', at: NOW - 1000 },
      { slug: 'svc-1', at: NOW - 500 },
    ]);
    expect(query(dbPath, 'SELECT last_beat_at FROM services')).toEqual([{ last_beat_at: NOW - 500 }]);
  });

  it('folders that stay behind (not empty) do not use up the per-run limit: every beat is recorded in one run', async () => {
    const { ingest, spool, touch, beats } = setUp();
    // maxEntries 100: 600 planted folders the checker cannot remove, listed in any order, and 10 beats.
    for (let i = 0; i < 600; i++) {
      mkdirSync(join(spool, `planted-${i}`));
      writeFileSync(join(spool, `planted-${i}`, 'x'), '');
    }
    for (let i = 0; i < 10; i++) touch(`svc-1.${NOW - 100 + i}.${i}.abc`);
    const report = await ingest({ maxEntries: 100 });
    expect(beats()).toHaveLength(10);
    expect(report.waiting).toBe(600);
  });

  it(`handles at most ${SPOOL_MAX_PER_RUN.toLocaleString('en-US')} entries per run: 20,000 files take two runs`, async () => {
    const { ingest, spool, touch, lines, beats } = setUp();
    for (let i = 0; i < 20_000; i++) touch(`svc-1.${NOW - 20_000 + i}.${i}.abc`);
    const first = await ingest();
    expect(readdirSync(spool)).toHaveLength(20_000 - SPOOL_MAX_PER_RUN);
    expect(first.waiting).toBe(20_000 - SPOOL_MAX_PER_RUN);
    expect(lines.verbose.join('\n')).toContain('10000 spool entries wait for the next run');
    const second = await ingest();
    expect(second.waiting).toBe(0);
    expect(readdirSync(spool)).toEqual([]);
    // Recorded oldest first, never moving the last beat back.
    const at = beats().map((b) => b.at);
    expect(at).toEqual([...at].sort((a, b) => a - b));
    expect(at.at(-1)).toBe(NOW - 1);
  }, 120_000);

  it('creates a missing spool folder with mode 1733 and says so', async () => {
    const { ingest, spool, lines } = setUp();
    execFileSync('rmdir', [spool]);
    await ingest();
    expect(lstatSync(spool).mode & 0o7777).toBe(0o1733);
    expect(lines.notice.join('\n')).toContain(`created spool folder ${spool}`);
  });

  it.each([
    ['writable by every user without the sticky bit', ({ spool }: { spool: string }) => chmodSync(spool, 0o777), 'lacks the sticky bit'],
    ['group-writable without the sticky bit', ({ spool }: { spool: string }) => chmodSync(spool, 0o770), 'lacks the sticky bit'],
    ['a symbolic link', ({ spool }: { spool: string }) => {
      execFileSync('mv', [spool, `${spool}-real`]);
      symlinkSync(`${spool}-real`, spool);
    }, 'symbolic link'],
    ['in a parent folder others can write without the sticky bit', ({ spool }: { spool: string }) => chmodSync(dirname(spool), 0o777), 'parent folder'],
  ])('refuses a spool folder %s (74) and takes nothing from it', async (_label, breakIt, why) => {
    const ctx = setUp();
    ctx.touch(`svc-1.${NOW}.1.abc`);
    breakIt(ctx);
    const got = await refusal(() => ctx.ingest());
    expect(got).toMatch(/^exit 74: refusing spool folder /);
    expect(got).toContain(why);
    expect(ctx.beats()).toEqual([]);
  });

  it('refuses a spool folder owned by someone other than the checker’s user or root', async () => {
    const ctx = setUp();
    // As root, hand the folder to another user; otherwise, run the check as if it were another user.
    if (isRoot) chownSync(ctx.spool, 4242, 4242);
    const got = await refusal(() => ctx.ingest({ uid: isRoot ? 0 : uid + 4242 }));
    expect(got).toMatch(/^exit 74: refusing spool folder .*owned by uid/);
  });

  it('accepts mode 1770 (a group of job users with the sticky bit)', async () => {
    const { ingest, spool, touch, beats } = setUp();
    chmodSync(spool, 0o1770);
    touch(`svc-1.${NOW}.1.abc`);
    await ingest();
    expect(beats()).toEqual([{ slug: 'svc-1', at: NOW }]);
  });
});

describe('signals in the spool: the kind in the name, the details as JSON inside', () => {
  /** What the database holds after ingestion: every beat with its kind and details, in the order written. */
  const signals = (dbPath: string) =>
    query<Record<string, unknown>>(dbPath, 'SELECT slug, at, kind, exit_code, duration_ms, message, output_tail FROM beats ORDER BY id');
  const service = (dbPath: string) =>
    query<Record<string, unknown>>(dbPath, 'SELECT last_beat_at, beat_seq, run_started_at, failure_at, failure_exit_code, failure_message FROM services')[0];

  it.each([
    ['a start, no details: an empty file', { kind: 'start' as const }, /-start$/, ''],
    ['a failure with details', { kind: 'fail' as const, exitCode: 3, durationMs: 1500, message: 'disk full' }, /-fail$/, '{"exitCode":3,"durationMs":1500,"message":"disk full"}'],
    ['a success with a message', { kind: 'ok' as const, message: 'deployed' }, /-ok$/, '{"message":"deployed"}'],
    ['a success without details: a plain beat', { kind: 'ok' as const }, /\.[a-z0-9]{1,8}$/, ''],
  ])('the beat side writes %s', (_label, signal, name, content) => {
    const { spool } = setUp();
    const written = writeSpoolEntry(spool, 'svc-1', NOW, 7, signal);
    expect(written).toMatch(/^svc-1\.1772442000000\.7\.[a-z0-9]{1,8}/);
    expect(written).toMatch(name);
    expect(readFileSync(join(spool, written), 'utf8')).toBe(content);
    // A spool root owns is checked by root: details stay private (an empty entry is never read).
    expect(lstatSync(spool).uid).toBe(0);
    expect(lstatSync(join(spool, written)).mode & 0o777).toBe(0o600);
  });

  it('the beat side makes details readable when the spool belongs to another user (its checker is not root)', () => {
    const { spool } = setUp();
    chownSync(spool, 65534, 65534);
    const written = writeSpoolEntry(spool, 'svc-1', NOW, 7, { kind: 'fail', exitCode: 3, message: 'disk full' });
    expect(lstatSync(join(spool, written)).mode & 0o777).toBe(0o644);
    const plain = writeSpoolEntry(spool, 'svc-1', NOW, 7, { kind: 'start' });
    expect(lstatSync(join(spool, plain)).mode & 0o777).toBe(0o600);
  });

  it('the beat side keeps the file within what the checker reads: output that JSON escapes six-fold is cut further', () => {
    const { spool } = setUp();
    const written = writeSpoolEntry(spool, 'svc-1', NOW, 7, { kind: 'fail', outputTail: '\u0001'.repeat(OUTPUT_TAIL_MAX_BYTES) });
    const text = readFileSync(join(spool, written), 'utf8');
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(SPOOL_DETAILS_MAX_BYTES);
    expect((JSON.parse(text) as { outputTail: string }).outputTail).toMatch(/^\u0001+$/);
  });

  it('start, failure and success round-trip: written by the beat side, recorded by the check with their details, files deleted', async () => {
    const { spool, ingest, dbPath } = setUp();
    writeSpoolEntry(spool, 'svc-1', NOW - 3000, 1, { kind: 'start' });
    writeSpoolEntry(spool, 'svc-1', NOW - 2000, 1, { kind: 'fail', exitCode: 2, durationMs: 1000, message: 'boom', outputTail: 'last line\n' });
    writeSpoolEntry(spool, 'a.b_c', NOW - 1000, 2, { kind: 'ok', message: 'fine' });
    const report = await ingest();
    expect(report).toMatchObject({ recorded: 3, undetailed: 0 });
    expect(signals(dbPath)).toEqual([
      { slug: 'svc-1', at: NOW - 3000, kind: 'start', exit_code: null, duration_ms: null, message: null, output_tail: null },
      { slug: 'svc-1', at: NOW - 2000, kind: 'fail', exit_code: 2, duration_ms: 1000, message: 'boom', output_tail: 'last line\n' },
      { slug: 'a.b_c', at: NOW - 1000, kind: 'ok', exit_code: null, duration_ms: null, message: 'fine', output_tail: null },
    ]);
    expect(readdirSync(spool)).toEqual([]);
  });

  it('entries that existing Medic wrote (no kind) are plain beats, their content never read', async () => {
    const { spool, ingest, dbPath } = setUp();
    writeFileSync(join(spool, `svc-1.${NOW}.1.abc`), '{"message":"not read"}');
    await ingest();
    expect(signals(dbPath)).toEqual([{ slug: 'svc-1', at: NOW, kind: 'ok', exit_code: null, duration_ms: null, message: null, output_tail: null }]);
  });

  it('in one millisecond a run\'s start comes before its end, whatever order the folder lists them in', async () => {
    const { touch, ingest, dbPath } = setUp();
    touch(`svc-1.${NOW}.1.b-ok`);
    touch(`svc-1.${NOW}.1.a-start`);
    touch(`svc-1.${NOW}.1.c-fail`);
    await ingest();
    expect(service(dbPath)).toMatchObject({ run_started_at: null });
    expect(signals(dbPath).map((r) => r.kind)[0]).toBe('start');
  });

  it('applies entries oldest first; a start or failure not newer than the last success is dropped like a stale beat', async () => {
    const { touch, ingest, dbPath, lines } = setUp();
    const store = openSqliteStore(dbPath);
    await store.recordBeat('svc-1', NOW - 1000);
    await store.close();
    touch(`svc-1.${NOW - 2000}.1.abc-fail`);
    touch(`svc-1.${NOW - 1000}.1.abc-start`);
    touch(`svc-1.${NOW - 500}.1.abc-start`);
    touch(`svc-1.${NOW - 100}.1.abc-fail`);
    const report = await ingest({ verbose: (l) => lines.verbose.push(l) });
    expect(report).toMatchObject({ recorded: 2, stale: 2 });
    expect(signals(dbPath).map((r) => [r.at, r.kind])).toEqual([
      [NOW - 1000, 'ok'],
      [NOW - 500, 'start'],
      [NOW - 100, 'fail'],
    ]);
    // Neither is a success: the last beat stays, the failure ends the started run.
    expect(service(dbPath)).toEqual({ last_beat_at: NOW - 1000, beat_seq: 1, run_started_at: null, failure_at: NOW - 100, failure_exit_code: null, failure_message: null });
  });

  it('a signal is subject to the same rules as a beat: capped at now, dropped past the retention, deleted for a slug not in the config', async () => {
    const { touch, ingest, dbPath, spool } = setUp();
    touch(`svc-1.${NOW + DAY}.1.abc-start`);
    touch(`svc-1.${NOW - 31 * DAY}.1.abc-fail`);
    touch(`other.${NOW}.1.abc-fail`);
    const report = await ingest();
    expect(report).toMatchObject({ recorded: 1, capped: 1, stale: 1 });
    expect(signals(dbPath).map((r) => [r.slug, r.at, r.kind])).toEqual([['svc-1', NOW, 'start']]);
    expect(readdirSync(spool)).toEqual([]);
  });

  it.each([
    ['not JSON', 'exit code 3'],
    ['JSON that is no object', '[1,2,3]'],
    ['over 80 KiB', `{"message":"${'x'.repeat(SPOOL_DETAILS_MAX_BYTES)}"}`],
  ])('content %s: recorded as the kind without details, said with -v', async (_label, content) => {
    const { spool, ingest, dbPath, lines } = setUp();
    writeFileSync(join(spool, `svc-1.${NOW}.1.abc-fail`), content);
    const report = await ingest();
    expect(report).toMatchObject({ recorded: 1, undetailed: 1 });
    expect(service(dbPath)).toMatchObject({ failure_at: NOW, failure_exit_code: null, failure_message: null });
    expect(lines.verbose.join('\n')).toContain('recorded 1 spool entry without its details');
    expect(readdirSync(spool)).toEqual([]);
  });

  it('fields of the wrong type are ignored, unknown fields too; bad UTF-8 bytes become U+FFFD; what is kept is cut to its bounds', async () => {
    const { spool, ingest, dbPath } = setUp();
    const json = Buffer.concat([
      Buffer.from(`{"exitCode":"3","durationMs":12.4,"extra":{"a":1},"outputTail":"${'y'.repeat(OUTPUT_TAIL_MAX_BYTES)}","message":"bad `),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(' bytes"}'),
    ]);
    writeFileSync(join(spool, `svc-1.${NOW}.1.abc-fail`), json);
    const report = await ingest();
    expect(report.undetailed).toBe(0);
    expect(signals(dbPath)[0]).toMatchObject({ exit_code: null, duration_ms: 12, message: 'bad \ufffd\ufffd bytes', output_tail: 'y'.repeat(OUTPUT_TAIL_MAX_BYTES) });
  });

  it('a signal entry that is a link or a FIFO is removed as junk, never opened; a huge file is read no further than the bound', async () => {
    const { spool, ingest, dbPath, dir } = setUp();
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    symlinkSync(join(dir, 'fifo'), join(spool, `svc-1.${NOW}.1.abc-fail`));
    symlinkSync('/etc/passwd', join(spool, `svc-1.${NOW}.2.abc-fail`));
    execFileSync('mkfifo', [join(spool, `svc-1.${NOW}.3.abc-start`)]);
    // Sparse: 1 GiB that takes no disk; reading it whole would take seconds and the memory.
    const huge = join(spool, `a.b_c.${NOW}.4.abc-fail`);
    writeFileSync(huge, '{');
    execFileSync('truncate', ['-s', '1G', huge]);
    const report = await ingest();
    expect(report).toMatchObject({ junk: 3, recorded: 1, undetailed: 1 });
    expect(signals(dbPath).map((r) => [r.slug, r.kind, r.message])).toEqual([['a.b_c', 'fail', null]]);
    expect(readdirSync(spool)).toEqual([]);
  });
});
