import { afterEach, describe, expect, it } from 'vitest';
import { ROUTING_KEY, tempProject, type Project } from '../helpers/cli.js';
import { serverError, startPdServer, type PdServer } from '../helpers/pd-server.js';

const MIN = 60_000;
const T = Date.parse('2026-03-02T09:00:00Z');
const ENV = { PAGERDUTY_ROUTING_KEY: ROUTING_KEY };

let pd: PdServer;
let project: Project;

afterEach(async () => {
  await pd?.close();
  project?.remove();
});

describe('medic check --json', { timeout: 120_000 }, () => {
  it('says what the run did: the change dated at the deadline, what was delivered, and (with --dry-run) what it would do', async () => {
    pd = await startPdServer();
    project = tempProject({
      checker: { gapThreshold: '30d', deliveryBudget: '2s' },
      targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } },
      services: [{ slug: 'backup', interval: '5m', grace: '1m' }],
    });
    expect((await project.run(['beat', 'backup'], { at: T, frozen: true, env: ENV })).code).toBe(0);

    const dry = await project.run(['check', '--dry-run', '--json'], { at: T + 7 * MIN, frozen: true, env: ENV });
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, changes: [{ slug: 'backup', to: 'down', at: new Date(T + 6 * MIN).toISOString() }], delivered: 0 });
    expect(pd.requests).toHaveLength(0);

    pd.reply(() => serverError());
    const failed = await project.run(['check', '--json'], { at: T + 7 * MIN, frozen: true, env: ENV });
    expect(failed.code).toBe(75);
    expect(JSON.parse(failed.stdout)).toMatchObject({ dryRun: false, changes: [{ slug: 'backup', to: 'down' }], delivered: 0, pending: 1 });
    expect(failed.stderr).toContain('not yet delivered');

    pd.reply(() => 202);
    const ok = await project.run(['check', '--json'], { at: T + 8 * MIN, frozen: true, env: ENV });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ changes: [], delivered: 1, pending: 0, rejected: [] });
  });
});
