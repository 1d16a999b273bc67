/**
 * src/job.ts: the output tail ring (pure: table tests and a seeded comparison with the naive
 * answer) and the job itself, with real processes and in-memory sinks.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { OutputTail, startJob, type JobOptions } from '../../src/job.js';
import { tempDir } from '../helpers/db.js';
import { rng } from '../helpers/faults.js';

const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
const tailOf = (capacity: number, chunks: Buffer[], maxBytes?: number) => {
  const tail = new OutputTail(capacity);
  for (const c of chunks) tail.push(c);
  return tail.text(maxBytes);
};

describe('OutputTail', () => {
  it.each([
    ['everything, when it fits', 16, [bytes('hello '), bytes('world')], undefined, 'hello world'],
    ['nothing printed', 16, [], undefined, ''],
    ['the last bytes of ASCII that overflows', 5, [bytes('abc'), bytes('defgh')], undefined, 'defgh'],
    ['the last bytes across the ring wrapping several times', 4, [bytes('ab'), bytes('cd'), bytes('ef'), bytes('g')], undefined, 'defg'],
    ['the last bytes of one chunk bigger than the ring', 3, [bytes('0123456789')], undefined, '789'],
    ['a chunk exactly the ring size after others', 3, [bytes('xy'), bytes('abc')], undefined, 'abc'],
    ['a 2-byte character cut in half: its rest dropped', 3, [bytes('aé', 'bc')], undefined, 'bc'],
    ['a 3-byte character cut after its first byte: its rest dropped', 4, [bytes('a€bc')], undefined, 'bc'],
    ['a 3-byte character cut after two bytes', 3, [bytes('€bc')], undefined, 'bc'],
    ['a 4-byte character that lost its first byte: its 3 others dropped', 3, [bytes('x😀')], undefined, ''],
    ['a 4-byte character that lost its first byte, then text', 5, [bytes('x😀yz')], undefined, 'yz'],
    ['a 4-byte character whole at the cut', 4, [bytes('x😀')], undefined, '😀'],
    ['a whole character at the cut is kept', 4, [bytes('ab€z')], undefined, '€z'],
    ['a character split between two chunks is joined', 16, [bytes([0xe2, 0x82]), bytes([0xac]), bytes('!')], undefined, '€!'],
    ['an invalid byte becomes U+FFFD', 16, [bytes('a', [0xff], 'b')], undefined, 'a\ufffdb'],
    ['a stray continuation byte at the very start (no cut) is U+FFFD, not dropped', 16, [bytes([0x80], 'ok')], undefined, '\ufffdok'],
    ['a truncated character at the end is U+FFFD', 16, [bytes('ok', [0xe2, 0x82])], undefined, 'ok\ufffd'],
    ['a byte order mark is kept', 16, [bytes([0xef, 0xbb, 0xbf], 'x')], undefined, '\ufeffx'],
    ['U+FFFD for binary stays within the byte budget once encoded', 4, [bytes([0xff, 0xfe, 0xfd, 0xfc])], undefined, '\ufffd'],
    ['a smaller budget than the ring: the last bytes of it', 16, [bytes('0123456789')], 4, '6789'],
    ['a smaller budget cutting a character', 16, [bytes('abc€')], 2, ''],
    ['a smaller budget ending on a whole character', 16, [bytes('ab€')], 3, '€'],
    ['a budget of zero', 16, [bytes('abc')], 0, ''],
    ['a ring of zero bytes keeps nothing', 0, [bytes('abc')], undefined, ''],
    ['a budget above the ring is the ring', 3, [bytes('abcdef')], 100, 'def'],
  ])('%s', (_what, capacity, chunks, maxBytes, expected) => {
    expect(tailOf(capacity, chunks, maxBytes)).toBe(expected);
  });

  it('keeps exactly the last `capacity` bytes of any stream, in order (seeded, against the naive answer)', () => {
    const r = rng(20261129);
    for (let round = 0; round < 300; round++) {
      const capacity = r.int(1, 64);
      const chunks = Array.from({ length: r.int(0, 12) }, () => Buffer.from(Array.from({ length: r.int(0, 100) }, () => r.int(0, 255))));
      const tail = new OutputTail(capacity);
      for (const c of chunks) tail.push(c);
      const all = Buffer.concat(chunks);
      expect(tail.bytes(), `round ${round}`).toEqual(all.subarray(Math.max(0, all.length - capacity)));
      const text = tail.text();
      expect(Buffer.byteLength(text), `round ${round}`).toBeLessThanOrEqual(capacity);
      if (all.length <= capacity && Buffer.byteLength(new TextDecoder().decode(all)) <= capacity) expect(text).toBe(new TextDecoder().decode(all));
    }
  });

  it('valid UTF-8 text of any length comes out as a suffix of it, never with U+FFFD (seeded)', () => {
    const r = rng(7);
    const alphabet = ['a', 'é', '€', '😀', '\n', 'ж'];
    for (let round = 0; round < 300; round++) {
      const text = Array.from({ length: r.int(0, 80) }, () => r.pick(alphabet)).join('');
      const capacity = r.int(1, 40);
      const encoded = Buffer.from(text);
      const chunks: Buffer[] = [];
      for (let i = 0; i < encoded.length; ) {
        const n = r.int(1, 7);
        chunks.push(encoded.subarray(i, i + n));
        i += n;
      }
      const out = tailOf(capacity, chunks);
      expect(text.endsWith(out), `round ${round}: ${JSON.stringify(out)} of ${JSON.stringify(text)}`).toBe(true);
      expect(out).not.toContain('\ufffd');
      // As much as fits: the next character back would not.
      const before = text.slice(0, text.length - out.length);
      const last = [...before].pop();
      if (last !== undefined) expect(Buffer.byteLength(last + out)).toBeGreaterThan(capacity);
    }
  });
});

/** A sink that collects what it is given; with `slow`, it says it is full on every write and drains later. */
function sink(slow: boolean | number = false): { stream: Writable; data: () => Buffer } {
  const parts: Buffer[] = [];
  const stream = new Writable({
    highWaterMark: slow ? 1 : 16 * 1024,
    write(chunk: Buffer, _enc, done) {
      parts.push(Buffer.from(chunk));
      if (slow) setTimeout(done, slow === true ? 1 : slow);
      else done();
    },
  });
  return { stream, data: () => Buffer.concat(parts) };
}

function job(argv: [string, ...string[]], over: Partial<JobOptions> = {}) {
  const out = sink();
  const err = sink();
  const running = startJob({
    argv,
    env: { PATH: process.env.PATH },
    timeoutMs: null,
    killAfterMs: 5000,
    tailCapacity: 4096,
    stdout: out.stream,
    stderr: err.stream,
    kill: (pid, sig) => process.kill(pid, sig),
    monotonic: () => performance.now(),
    ...over,
  });
  return { ...running, stdout: () => out.data().toString(), stderr: () => err.data().toString() };
}

describe('startJob', { timeout: 30_000 }, () => {
  it.each([
    ['exit 0', ['true'], 0],
    ['exit 3', ['sh', '-c', 'exit 3'], 3],
    ['exit 255', ['sh', '-c', 'exit 255'], 255],
    ['death by SIGKILL', ['sh', '-c', 'kill -KILL $$'], 137],
    ['death by SIGTERM', ['sh', '-c', 'kill -TERM $$'], 143],
    ['death by SIGSEGV', ['sh', '-c', 'kill -SEGV $$'], 139],
  ] as const)('%s → %i', async (_what, argv, code) => {
    const result = await job([...argv] as [string, ...string[]]).done;
    expect(result).toMatchObject({ exitCode: code, timedOut: false, notStarted: null });
  });

  it('streams both outputs to their sinks and keeps the combined tail', async () => {
    const j = job(['sh', '-c', 'echo one; echo two >&2; echo three']);
    const result = await j.done;
    expect(j.stdout()).toBe('one\nthree\n');
    expect(j.stderr()).toBe('two\n');
    expect(result.tail.text().split('\n').sort()).toEqual(['', 'one', 'three', 'two']);
  });

  it('waits for a sink that is full (backpressure) and loses nothing', async () => {
    const out = sink(true);
    const running = job(['sh', '-c', 'seq 1 20000'], { stdout: out.stream });
    await running.done;
    await new Promise((flushed) => out.stream.end(flushed)); // what was handed to the sink, written
    expect(out.data().toString()).toBe(`${Array.from({ length: 20000 }, (_, i) => i + 1).join('\n')}\n`);
  });

  it('a sink slower than the output grace still gets everything the job wrote before it exited', async () => {
    // ~200 KB through a sink that takes 700 ms per chunk: after the job exits, what is left in the
    // pipe takes longer than OUTPUT_GRACE_MS (1 s) to pass; waiting for the sink does not count.
    const out = sink(700);
    const expected = `${Array.from({ length: 35_000 }, (_, i) => i + 1).join('\n')}\n`;
    const running = job(['sh', '-c', 'seq 1 35000'], { stdout: out.stream });
    await running.done;
    await new Promise((flushed) => out.stream.end(flushed)); // what was handed to the sink, written
    expect(out.data().toString() === expected).toBe(true);
  }, 60_000);

  it.each([
    ['a name not on PATH', 'no-such-command-medic-test', 127, 'no-such-command-medic-test: command not found'],
    ['a path that does not exist', './no/such/file', 127, './no/such/file: No such file or directory'],
  ])('%s: never started, %i', async (_what, command, code, message) => {
    const result = await job([command]).done;
    expect(result).toMatchObject({ exitCode: code, notStarted: message, tail: expect.any(OutputTail) });
  });

  it('a file without execute permission: 126, Permission denied', async () => {
    const file = join(tempDir('medic-job-'), 'script');
    writeFileSync(file, '#!/bin/sh\necho never\n');
    chmodSync(file, 0o644);
    const result = await job([file]).done;
    expect(result).toMatchObject({ exitCode: 126, notStarted: `${file}: Permission denied` });
  });

  it('times out: TERM, and 124', async () => {
    const started = performance.now();
    const result = await job(['sleep', '30'], { timeoutMs: 200 }).done;
    expect(result).toMatchObject({ exitCode: 124, timedOut: true });
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('times out a job that ignores TERM: KILL after the grace, and 124', async () => {
    const kills: string[] = [];
    const result = await job(['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done'], {
      timeoutMs: 300,
      killAfterMs: 300,
      kill: (pid, sig) => {
        kills.push(sig);
        process.kill(pid, sig);
      },
    }).done;
    expect(result).toMatchObject({ exitCode: 124, timedOut: true });
    expect(kills).toEqual(['SIGTERM', 'SIGKILL']);
    expect(result.durationMs).toBeGreaterThanOrEqual(550);
  });

  it('forwards a signal to the job and everything it started (its process group)', async () => {
    const j = job(['sh', '-c', 'trap "echo got TERM; exit 7" TERM; sleep 30 & wait']);
    await new Promise((r) => setTimeout(r, 300));
    j.forward('SIGTERM');
    const result = await j.done;
    expect(result.exitCode).toBe(7);
    expect(j.stdout()).toBe('got TERM\n');
  });

  it('does not wait for ever on output a background process holds open after the job exited', async () => {
    const started = performance.now();
    const result = await job(['sh', '-c', 'sleep 5 & echo done']).done;
    expect(result.exitCode).toBe(0);
    expect(result.tail.text()).toBe('done\n');
    const wallMs = performance.now() - started;
    expect(wallMs).toBeLessThan(4000);
    // The run's duration ends when the job exits, not when medic stops waiting for its output.
    expect(result.durationMs).toBeLessThan(wallMs - 500);
  });
});
