import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfigFile, parseConfig } from '../../src/config/load.ts';

let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-cluster-config-'));
  mkdirSync(join(dir, 'policies'));
  file = join(dir, 'moonwatch.yaml');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE = ['listen: ["127.0.0.1:2525"]', 'scripts:', '  dir: policies', '  modules: [gate]'];
const parse = (cluster: string[]) => parseConfig([...BASE, 'cluster:', ...cluster.map((l) => `  ${l}`)].join('\n'), file);

function failure(cluster: string[]): ConfigError {
  try {
    parse(cluster);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('the cluster section', () => {
  it('absent: a single node, nothing clustered', () => {
    expect(parseConfig(BASE.join('\n'), file).cluster).toBeUndefined();
  });

  it('defaults: max_delay 0.2 s, lease 5 s, heartbeat 1 s, every family replicated, role node', () => {
    const c = parse(['node: mx1', 'redis: redis://127.0.0.1:6379']).cluster!;
    expect(c).toMatchObject({ node: 'mx1', url: 'redis://127.0.0.1:6379', prefix: 'mw', maxDelayMs: 200, leaseMs: 5000, heartbeatMs: 1000, role: 'node' });
    expect(c.replicate).toEqual({ metrics: true, inboundCidr: true, series: true });
  });

  it('spec §12.1 parameter names choose the families; redis_cluster takes seed nodes', () => {
    const c = parse(['node: mx1', 'redis_cluster: ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]', 'replicate: [connect, reception, rejection]', 'role: manager']).cluster!;
    expect(c.nodes).toHaveLength(2);
    expect(c.replicate).toEqual({ metrics: true, inboundCidr: false, series: false });
    expect(c.role).toBe('manager');
  });

  it.each([
    [['redis: redis://127.0.0.1:6379'], 6, 'cluster.node', 'is required'],
    [['node: "a b"', 'redis: redis://127.0.0.1:6379'], 6, 'cluster.node', 'is not a node name'],
    [['node: a'], 6, 'cluster.redis', 'needs redis'],
    [['node: a', 'redis: http://x'], 7, 'cluster.redis', 'is not a Redis URL'],
    [['node: a', 'redis: redis://h:1', 'redis_cluster: ["redis://h:2"]'], 8, 'cluster.redis_cluster', 'not both'],
    [['node: a', 'redis: redis://h:1', 'max_delay: 0'], 8, 'cluster.max_delay', 'must be from 0.01 to 10'],
    [['node: a', 'redis: redis://h:1', 'lease: 30'], 8, 'cluster.lease', 'must be from 2 to 10'],
    [['node: a', 'redis: redis://h:1', 'lease: 2', 'heartbeat: 1.5'], 9, 'cluster.heartbeat', 'at most half the lease'],
    [['node: a', 'redis: redis://h:1', 'replicate: [metrics, outbound_cidr]'], 8, 'cluster.replicate', 'is not a replicated family'],
    [['node: a', 'redis: redis://h:1', 'role: boss'], 8, 'cluster.role', 'must be one of node, manager'],
    [['node: a', 'redis: redis://h:1', 'max_dealy: 1'], 8, 'cluster.max_dealy', ''],
  ])('%j → file:line error', (lines, line, setting, text) => {
    const e = failure(lines);
    expect(e.code).toBe('MW_ERR_CONFIG');
    expect(e.message).toContain(`${file}:${line}: `);
    expect(e.setting).toContain(setting);
    expect(e.problem).toContain(text);
  });

  it('the README ## Cluster commands start a Redis and two nodes whose configs load and share it', () => {
    const readme = readFileSync('README.md', 'utf8');
    const at = readme.indexOf('## Cluster');
    const open = readme.indexOf('```sh\n', at);
    const cmds = readme.slice(open + 6, readme.indexOf('\n```', open)).split('\n');
    expect(cmds).toHaveLength(3);
    expect(cmds[0]).toMatch(/^redis-server --port 6379\b/);
    const configs = cmds.slice(1).map((c) => /^node bin\/moonwatch\.js serve --config (\S+)$/.exec(c)![1]!);
    const loaded = configs.map((f) => loadConfigFile(f));
    expect(loaded.every((c) => c.cluster?.url === 'redis://127.0.0.1:6379')).toBe(true);
  });

  it('the example cluster configs load (README ## Cluster starts them)', () => {
    const a = loadConfigFile('examples/cluster/node-a.yaml');
    const b = loadConfigFile('examples/cluster/node-b.yaml');
    expect([a.cluster?.node, b.cluster?.node]).toEqual(['a', 'b']);
    expect(a.cluster?.url).toBe(b.cluster?.url);
    expect(a.listen[0]!.port).not.toBe(b.listen[0]!.port);
    expect(a.control?.socket).not.toBe(b.control?.socket);
    expect(a.inboundAudit.monitors).toEqual(b.inboundAudit.monitors);
  });
});
