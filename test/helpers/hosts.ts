/**
 * Several "hosts" on one machine: a process started through `onHost(name)` runs in a UTS namespace
 * of its own (`unshare --uts`) whose host name is `name`, so `os.hostname()` in medic says so while
 * the file system, the network and the process ids stay shared. Needs root (CAP_SYS_ADMIN): without
 * it, `requireHosts()` fails with a message saying so, never a skip.
 *
 * `unshare` and `sh` exec into node: it stays one process, so kill -9 reaches medic itself.
 *
 * Node builtins only.
 */
import { spawnSync } from 'node:child_process';

const HOST_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The command prefix (for faults.ts `spawnMedic`'s `prefix`) that runs what follows with host name `name`. */
export function onHost(name: string): string[] {
  if (!HOST_NAME.test(name)) throw new Error(`not a host name for a test: ${JSON.stringify(name)}`);
  return ['unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', name];
}

/** Throws, saying what is missing, unless a process can be given a host name of its own here. */
export function requireHosts(): void {
  const probe = spawnSync(onHost('medic-probe')[0]!, [...onHost('medic-probe').slice(1), 'hostname'], { encoding: 'utf8' });
  if (probe.status === 0 && probe.stdout.trim() === 'medic-probe') return;
  const why = probe.error ? probe.error.message : `exit ${probe.status}: ${probe.stderr.trim()}`;
  throw new Error(
    `these tests run medic as several hosts with \`unshare --uts\` (a host name per process), which failed here (${why}); ` +
      `run them as root (${process.getuid?.() === 0 ? 'already root: is unshare from util-linux installed, and are namespaces allowed in this container?' : `uid ${process.getuid?.()}`})`,
  );
}

/**
 * libfaketime with a clock offset from the real time (`+10m`, `-90s`): the process's wall clock is
 * skewed by that much and runs on; timers keep the real monotonic clock.
 */
export function skewedClockEnv(offset: string, libfaketime: string): Record<string, string> {
  if (!/^[+-][0-9]+[smhd]?$/.test(offset)) throw new Error(`not a faketime offset: ${offset}`);
  return { LD_PRELOAD: libfaketime, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}
