/**
 * Vitest globalSetup: end-to-end tests spawn bin/medic, which runs dist/. When dist/ is missing or
 * older than what the build reads, build it once before any test, so that `npx vitest run
 * test/e2e/x.test.ts` never runs a stale dist/. After `npm test`'s own pretest build this costs a
 * few stat calls.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startCluster, type ClusterInfo } from './helpers/pg-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's shared throwaway PostgreSQL (test/helpers/pg-cluster.ts). */
    pg: ClusterInfo;
  }
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** What scripts/build.mjs reads (src/generated is its own output, written before the bundle). */
const INPUTS = ['src', 'medic.schema.json', 'scripts/build.mjs'];
/** Written by every build. */
const OUTPUT = 'dist/cli.js';

/** `path` itself, or every file under it, without the folder `skip`. */
function files(path: string, skip: string): string[] {
  if (path === skip) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => files(join(path, name), skip));
}

/** Why the build in `root` is out of date (`dist/cli.js is missing`, `src/x.ts is newer than dist/cli.js`), or undefined. */
export function staleBuild(root: string): string | undefined {
  const output = join(root, OUTPUT);
  if (!existsSync(output)) return `${OUTPUT} is missing`;
  const builtAt = statSync(output).mtimeMs;
  for (const input of INPUTS) {
    const newer = files(join(root, input), join(root, 'src', 'generated')).find((file) => statSync(file).mtimeMs > builtAt);
    if (newer) return `${relative(root, newer)} is newer than ${OUTPUT}`;
  }
  return undefined;
}

/**
 * Builds dist/ when stale, and starts the run's throwaway PostgreSQL (a run that cannot start one
 * fails here, with the reason: store tests never silently skip PostgreSQL). Returns the teardown.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const reason = staleBuild(ROOT);
  if (reason) {
    console.log(`Building dist/ first: ${reason}.`);
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
  }
  const cluster = await startCluster();
  project.provide('pg', { adminUrl: cluster.adminUrl, host: cluster.host, port: cluster.port, dir: cluster.dir });
  return () => cluster.destroy();
}
