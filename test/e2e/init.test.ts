import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, medic } from '../helpers/cli.js';

let dir: string;

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('medic init', { timeout: 120_000 }, () => {
  it('writes a working medic.config.json in an empty folder and prints the crontab line', async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'medic-init-')));
    const file = join(dir, 'medic.config.json');

    const res = await medic(['init'], { cwd: dir });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    // Cron's PATH may lack node, so a PATH=... prefix is allowed before the binary.
    const crontab = new RegExp(`^\\s*\\* \\* \\* \\* \\* (PATH=\\S+ )?${escape(BIN)} --config ${escape(file)} check$`, 'm');
    expect(res.stdout).toMatch(crontab);

    const written = JSON.parse(readFileSync(file, 'utf8'));
    expect(written.services.length).toBeGreaterThan(0);

    // The starter config is valid: status reads it (found from the current folder).
    const status = await medic(['status', '--json'], { cwd: dir });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    const rows = JSON.parse(status.stdout);
    expect(rows.map((r: { slug: string }) => r.slug)).toEqual(written.services.map((s: { slug: string }) => s.slug));
    expect((await medic(['status'], { cwd: dir })).code).toBe(0);
  });

  it('refuses to overwrite an existing config without --force (exit 64, file unchanged) and overwrites with it', async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'medic-init-')));
    const file = join(dir, 'medic.config.json');
    expect((await medic(['init'], { cwd: dir })).code).toBe(0);
    const starter = readFileSync(file, 'utf8');
    const edited = `${JSON.stringify({ services: [{ slug: 'my-own-job' }] }, null, 2)}\n`;
    writeFileSync(file, edited);

    const again = await medic(['init'], { cwd: dir });
    expect(again.code).toBe(64);
    expect(again.stderr).toContain(file);
    expect(again.stderr).toContain('--force');
    expect(again.stderr).not.toMatch(/^\s+at /m);
    expect(readFileSync(file, 'utf8')).toBe(edited);

    const forced = await medic(['init', '--force'], { cwd: dir });
    expect(forced.code).toBe(0);
    expect(forced.stderr).toBe('');
    expect(readFileSync(file, 'utf8')).toBe(starter);
  });

  it('--config other.json writes other.json; the beat line it prints works as it is under cron\'s bare environment', async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'medic-init-')));
    const file = join(dir, 'other.json');
    const res = await medic(['init', '--config', 'other.json'], { cwd: dir });
    expect(res.code, res.stderr).toBe(0);
    expect(existsSync(file)).toBe(true);
    expect(existsSync(join(dir, 'medic.config.json'))).toBe(false);
    const beatLine = /End each job with: (.+) <slug>$/m.exec(res.stdout)?.[1];
    expect(beatLine).toContain(`${BIN} --config ${file} beat`);
    // As cron runs it: sh -c, PATH=/usr/bin:/bin, from $HOME, nothing else.
    const run = await new Promise<{ code: number | null; stderr: string }>((done) =>
      execFile('/bin/sh', ['-c', `${beatLine} nightly-backup`], { cwd: dir, env: { PATH: '/usr/bin:/bin', HOME: dir } }, (err, _out, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );
    expect(run).toEqual({ code: 0, stderr: '' });
    const status = await medic(['status', '--json', '--config', 'other.json'], { cwd: dir });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)[0]).toMatchObject({ slug: 'nightly-backup' });
    expect(JSON.parse(status.stdout)[0].lastSeen).not.toBeNull();
  });
});
