import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDeployableConfig } from '../../../lib/config/index.js';

const example = (name: string): Buffer =>
  readFileSync(join(import.meta.dirname, '..', '..', '..', 'examples', name));

describe('compiled deployable model', () => {
  it('is deeply frozen', async () => {
    const { config } = await loadDeployableConfig(example('wordpress-ha.xml'));
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.services));
    assert.ok(Object.isFrozen(config.services[0]));
    assert.ok(Object.isFrozen(config.services[0]!.utilization));
    assert.ok(Object.isFrozen(config.rules[0]!.conditions));
    assert.throws(() => {
      (config.services as unknown[]).push({});
    }, TypeError);
  });

  it('survives JSON: plain data only', async () => {
    const { config } = await loadDeployableConfig(example('wordpress-ha.xml'));
    assert.deepEqual(JSON.parse(JSON.stringify(config)), config);
  });

  it('fills version 2 settings in from the deployable, the assembly and the service', async () => {
    const { config } = await loadDeployableConfig(example('wordpress-ha.xml'));
    const db = config.assemblies.find((a) => a.name === 'db1')!;
    const web1 = config.assemblies.find((a) => a.name === 'web1')!;
    assert.deepEqual(web1.heartbeat, { intervalMs: 2000, missed: 3 });
    assert.deepEqual(db.heartbeat, { intervalMs: 1000, missed: 5 });
    assert.deepEqual(db.recovery, {
      driver: 'command',
      command: '/usr/libexec/cpe/recover-assembly',
      timeoutMs: 120_000,
    });
    assert.deepEqual(web1.capacity, { cpu: 4, memoryMb: 8192 });
    const mysql = config.services.find((s) => s.id === 'rsc_db1_mysql')!;
    assert.equal(mysql.unique, true);
    assert.equal(mysql.allowed, 'any');
    assert.deepEqual(mysql.utilization, { cpu: 4, memoryMb: 16384 });
    const web2 = config.services.find((s) => s.id === 'rsc_web2_httpd')!;
    assert.deepEqual(web2.allowed, ['web2', 'web1'], 'home first');
    assert.equal(web2.stickiness, 100);
    assert.equal(config.constraints.antiAffinity[0]?.score, -100);
    assert.equal(config.constraints.order[1]?.kind, 'optional');
    assert.deepEqual(config.rules[0]?.event, { type: 'prioritize', params: { priority: 95 } });
    assert.equal(config.rules[0]?.priority, 10);
    assert.equal(config.rules[1]?.event.type, 'notify');
  });

  it('pins version 1 services to their assembly, as the original did', async () => {
    const { config } = await loadDeployableConfig(example('wordpress-original.xml'));
    for (const s of config.services) assert.deepEqual(s.allowed, [s.home]);
  });

  it('defaults version 2 services to any assembly', async () => {
    const { config } = await loadDeployableConfig(
      '<deployable name="x" uuid="1" schema_version="2"><assemblies><assembly name="a" uuid="a"><services>' +
        '<service name="s" class="lsb" type="t"/></services></assembly></assemblies></deployable>',
    );
    const s = config.services[0]!;
    assert.equal(s.allowed, 'any');
    assert.equal(s.monitorIntervalMs, 10_000);
    assert.equal(s.timeoutMs, 60_000);
    assert.equal(s.unique, false);
    assert.equal(s.failback, 'never');
    assert.deepEqual(config.assemblies[0]?.heartbeat, { intervalMs: 5000, missed: 3 });
    assert.deepEqual(config.assemblies[0]?.recovery, { driver: 'none' });
  });
});
