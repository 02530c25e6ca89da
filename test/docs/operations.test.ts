/**
 * docs/operations.md, the README's CLI section and the systemd unit, kept
 * true: the metric names documented are the ones served, the http example
 * loads, the unit runs the bin with the README's Node flag, and the README
 * lists every command `moonwatch --help` does.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { USAGE } from '../../src/cli/main.ts';
import { parseConfig } from '../../src/config/load.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';
import { ServerMetrics } from '../../src/observe/metrics.ts';

const ops = readFileSync('docs/operations.md', 'utf8');
const readme = readFileSync('README.md', 'utf8');
const unit = readFileSync('examples/systemd/moonwatch.service', 'utf8');

describe('docs/operations.md', () => {
  it('documents exactly the metrics the server registers', async () => {
    const { logger } = captureLogger('silent');
    const clock = new ManualClock(0);
    const metrics = new ServerMetrics({ store: new AuditStore({ clock, logger, monitors: ['60,10'] }), sessions: () => ({ accepted: 0, open: 0 }), generation: () => 1 });
    const served = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => !n.startsWith('moonwatch_process_')).sort();
    const documented = [...ops.matchAll(/^\| `(moonwatch_[a-z_]+)` \|/gm)].map((m) => m[1]!).sort();
    expect(documented).toEqual(served);
  });

  it('shows an http section that loads, loopback by default', () => {
    const block = /```yaml\n(http:\n[^`]*)```/.exec(ops)![1]!;
    const base = 'listen: ["127.0.0.1:0"]\nscripts: { dir: policies, modules: [ip_rate] }\n';
    expect(parseConfig(base + block, resolve('examples/moonwatch.yaml')).http).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseConfig(`${base}http: { enabled: true }\n`, resolve('examples/moonwatch.yaml')).http).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseConfig(`${base}http: { enabled: false }\n`, resolve('examples/moonwatch.yaml')).http).toBeUndefined();
    expect(parseConfig(base, resolve('examples/moonwatch.yaml')).http).toBeUndefined();
  });
});

describe('examples/systemd/moonwatch.service', () => {
  it('runs the bin directly with the Node flag the README recommends, checks first, reloads with SIGHUP', () => {
    const flag = /NODE_OPTIONS=(--max-semi-space-size=\d+)/.exec(readFileSync('docs/config.md', 'utf8'))![1]!;
    expect(readme).toContain(flag);
    const exec = /^ExecStart=(.*)$/m.exec(unit)![1]!;
    expect(exec).toBe(`/usr/bin/node ${flag} /usr/lib/node_modules/moonwatch/bin/moonwatch.js serve --config /etc/moonwatch/moonwatch.yaml`);
    expect(unit).toMatch(/^ExecStartPre=\/usr\/bin\/node \/usr\/lib\/node_modules\/moonwatch\/bin\/moonwatch\.js check --config \/etc\/moonwatch\/moonwatch\.yaml$/m);
    expect(unit).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    // Longer than the default shutdown grace period (10 s), so systemd does not SIGKILL a clean drain.
    expect(Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)![1])).toBeGreaterThan(10);
  });
});

describe('README: The CLI', () => {
  it('lists every command moonwatch --help lists', () => {
    const commands = [...USAGE.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]!);
    expect(commands).toEqual(['serve', 'test', 'console', 'check', 'config']);
    const section = readme.slice(readme.indexOf('## The CLI'), readme.indexOf('## Configuration'));
    for (const c of commands) expect(section).toContain(`moonwatch ${c} `);
  });
});
