import { describe, expect, it } from 'vitest';
import { GroupCommit, MAX_BATCH } from '../../src/serve/batch.js';
import type { BeatInput } from '../../src/store/types.js';

/**
 * A store that records each recordBeats call and settles it when the test says so, and a deferral
 * the test runs by hand: the batching is then seen step by step.
 */
function harness() {
  const calls: { beats: BeatInput[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  const store = {
    recordBeats: (beats: BeatInput[]) => new Promise<void>((resolve, reject) => calls.push({ beats: [...beats], resolve, reject })),
  };
  const deferred: (() => void)[] = [];
  const defer = (fn: () => void) => void deferred.push(fn);
  const tick = () => new Promise((r) => setTimeout(r, 0));
  /** Lets settled promises run on, then runs what was deferred (the next event-loop turn). */
  const turn = async () => {
    await tick();
    for (const fn of deferred.splice(0)) fn();
    await tick();
  };
  return { calls, commit: new GroupCommit(store, defer), turn };
}

const beat = (i: number): BeatInput => ({ slug: `s${i}` });
const settled = async (p: Promise<void>) => {
  let state = 'pending';
  p.then(() => (state = 'resolved'), () => (state = 'rejected'));
  await new Promise((r) => setTimeout(r, 0));
  return state;
};

describe('GroupCommit', () => {
  it('writes beats that arrive in the same turn in one commit', async () => {
    const { calls, commit, turn } = harness();
    const acks = [1, 2, 3].map((i) => commit.add(beat(i)));
    expect(calls).toHaveLength(0);
    await turn();
    expect(calls.map((c) => c.beats.map((b) => b.slug))).toEqual([['s1', 's2', 's3']]);
    calls[0]!.resolve();
    await Promise.all(acks);
    expect(commit.stats).toEqual({ commits: 1, beats: 3, failed: 0 });
  });

  it('acknowledges nothing before its commit resolved', async () => {
    const { calls, commit, turn } = harness();
    const ack = commit.add(beat(1));
    await turn();
    expect(await settled(ack)).toBe('pending');
    calls[0]!.resolve();
    expect(await settled(ack)).toBe('resolved');
  });

  it('collects the beats that arrive while a commit runs into the next one: fewer commits than beats', async () => {
    const { calls, commit, turn } = harness();
    const first = commit.add(beat(0));
    await turn();
    const later = Array.from({ length: 50 }, (_, i) => commit.add(beat(i + 1)));
    await turn();
    expect(calls).toHaveLength(1); // the second waits for the first
    calls[0]!.resolve();
    await first;
    await turn();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.beats).toHaveLength(50);
    calls[1]!.resolve();
    await Promise.all(later);
    expect(commit.stats.commits).toBe(2);
    expect(commit.stats.beats).toBe(51);
  });

  it('rejects every beat of a failed commit, and only those', async () => {
    const { calls, commit, turn } = harness();
    const a = commit.add(beat(1));
    await turn();
    const b = commit.add(beat(2));
    calls[0]!.reject(new Error('database is locked'));
    await expect(a).rejects.toThrow('database is locked');
    await turn();
    calls[1]!.resolve();
    await expect(b).resolves.toBeUndefined();
    expect(commit.stats).toEqual({ commits: 2, beats: 2, failed: 1 });
  });

  it(`cuts a burst into commits of at most ${MAX_BATCH}`, async () => {
    const { calls, commit, turn } = harness();
    const acks = Array.from({ length: MAX_BATCH + 5 }, (_, i) => commit.add(beat(i)));
    await turn();
    expect(calls[0]!.beats).toHaveLength(MAX_BATCH);
    calls[0]!.resolve();
    await new Promise((r) => setTimeout(r, 0));
    await turn();
    expect(calls[1]!.beats).toHaveLength(5);
    calls[1]!.resolve();
    await Promise.all(acks);
  });

  it('idle() waits for the queue and the running commit', async () => {
    const { calls, commit, turn } = harness();
    const ack = commit.add(beat(1));
    let idle = false;
    const waiting = commit.idle().then(() => (idle = true));
    await turn();
    expect(idle).toBe(false);
    calls[0]!.resolve();
    await ack;
    await turn();
    await waiting;
    expect(idle).toBe(true);
  });
});
