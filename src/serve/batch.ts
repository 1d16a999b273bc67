import type { BeatInput, Store } from '../store/types.js';

/** Beats written in one transaction at most: a burst is cut into commits of this size. */
export const MAX_BATCH = 1000;

/**
 * Group commit: beats that arrive while a commit is running wait together and go in the next one,
 * through one Store.recordBeats call; each caller's promise settles when its own commit did (a beat
 * is acknowledged only once it is durable; a failed commit rejects every beat in it). Throughput then
 * depends on commits, not on requests. With a synchronous store (SQLite) the next commit starts on
 * the turn after the current one (`defer`), so that every request that arrived meanwhile joins it.
 */
export class GroupCommit {
  private queue: { beat: BeatInput; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private running: Promise<void> | null = null;
  private scheduled = false;
  /** Commits made (successful or not) and beats they held, for `-v`. */
  readonly stats = { commits: 0, beats: 0, failed: 0 };

  constructor(
    private readonly store: Pick<Store, 'recordBeats'>,
    private readonly defer: (fn: () => void) => void = setImmediate,
  ) {}

  add(beat: BeatInput): Promise<void> {
    const done = new Promise<void>((resolve, reject) => this.queue.push({ beat, resolve, reject }));
    this.kick();
    return done;
  }

  /** Resolves once nothing is queued or being written (for a drain). */
  async idle(): Promise<void> {
    while (this.running || this.scheduled || this.queue.length > 0) {
      await (this.running ?? new Promise<void>((r) => this.defer(r)));
    }
  }

  private kick(): void {
    if (this.running || this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    this.defer(() => {
      this.scheduled = false;
      this.running = this.commit().finally(() => {
        this.running = null;
        this.kick();
      });
    });
  }

  private async commit(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    this.stats.commits++;
    this.stats.beats += batch.length;
    try {
      await this.store.recordBeats(batch.map((b) => b.beat));
    } catch (err) {
      this.stats.failed++;
      for (const b of batch) b.reject(err);
      return;
    }
    for (const b of batch) b.resolve();
  }
}
