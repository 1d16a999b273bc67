/**
 * Runs the real binary at a chosen instant: libfaketime preloaded directly. Not through the
 * `faketime` wrapper: the wrapper forks (its pid is not medic's, so kill -9 misses medic) and keeps
 * a named semaphore per pid in /dev/shm, and one left behind by a killed wrapper makes a later
 * wrapper with the same pid fail ("faketime: sem_open: File exists").
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** The one command that installs the tools the tests need (README, .ci/run). */
export const INSTALL_TEST_TOOLS = 'sudo scripts/install-test-tools.sh';

const LIB_DIRS = ['/usr/lib', '/usr/local/lib', '/usr/lib64'];
let libfaketimePath: string | undefined;

/** Path of libfaketime.so.1 under `libDirs` (or one folder down); throws, naming the install command, when absent. */
export function libfaketime(libDirs: readonly string[] = LIB_DIRS): string {
  if (libDirs === LIB_DIRS && libfaketimePath) return libfaketimePath;
  for (const base of libDirs) {
    const subdirs = existsSync(base) ? readdirSync(base).map((d) => join(base, d)) : [];
    for (const dir of [base, ...subdirs]) {
      const candidate = join(dir, 'faketime', 'libfaketime.so.1');
      if (existsSync(candidate)) return libDirs === LIB_DIRS ? (libfaketimePath = candidate) : candidate;
    }
  }
  throw new Error(`libfaketime.so.1 not found (the tests run medic at chosen instants with it): install the test tools with ${INSTALL_TEST_TOOLS}`);
}

/**
 * The environment that sets a process's wall clock to `at` (epoch ms, a whole second): frozen
 * there, or running on from it (`speed` times as fast). The instant is given in epoch seconds
 * (FAKETIME_FMT=%s), so it does not depend on the child's TZ. Timers keep the real monotonic clock.
 */
export function clockEnv(at: number, opts: { frozen?: boolean; speed?: number } = {}): Record<string, string> {
  if (!Number.isFinite(at) || at % 1000 !== 0) throw new Error(`faketime needs a whole second, got ${at}`);
  const seconds = String(at / 1000);
  return {
    LD_PRELOAD: libfaketime(),
    FAKETIME_FMT: '%s',
    FAKETIME: opts.frozen ? seconds : `@${seconds}${opts.speed ? ` x${opts.speed}` : ''}`,
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
}

/**
 * libfaketime names its shared memory after the pid (/dev/shm/faketime_shm_<pid> and
 * sem.faketime_sem_<pid>) and removes it at exit; a process killed with SIGKILL leaves it behind.
 * A later process given the same pid (pid_max is often 32768) may then refuse to start with
 * "libfaketime: In ft_shm_create(), shm_open failed: File exists" before medic runs at all.
 */
export const FAKETIME_SHM_CLASH = /^libfaketime: In ft_shm_create\(\), shm_open failed/;

export function removeFaketimeShm(pid: number): void {
  for (const name of [`faketime_shm_${pid}`, `sem.faketime_sem_${pid}`]) rmSync(join('/dev/shm', name), { force: true });
}
