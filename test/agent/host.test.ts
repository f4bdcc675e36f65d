import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostAddresses, hostMetrics, hostName } from '../../agent/host.js';

describe('what an agent reports of its host', () => {
  it('reads load, available memory and CPUs from /proc', () => {
    const proc = mkdtempSync(join(tmpdir(), 'cpe-proc-'));
    writeFileSync(join(proc, 'loadavg'), '0.42 0.30 0.20 1/123 4567\n');
    writeFileSync(
      join(proc, 'meminfo'),
      'MemTotal:        8048576 kB\nMemFree:          100000 kB\nMemAvailable:    4024288 kB\n',
    );
    writeFileSync(
      join(proc, 'stat'),
      'cpu  1 2 3 4\ncpu0 1 2 3 4\ncpu1 1 2 3 4\ncpu2 1 2 3 4\nintr 5\n',
    );
    assert.deepEqual(hostMetrics(proc), {
      load1: 0.42,
      mem_total_mb: 7860,
      mem_free_mb: 3930,
      cpus: 3,
    });
  });

  it("falls back on the OS's figures where /proc says nothing", () => {
    const m = hostMetrics(mkdtempSync(join(tmpdir(), 'cpe-noproc-')));
    assert.ok(m.cpus >= 1 && m.mem_total_mb > 0 && m.mem_free_mb >= 0);
  });

  it('puts a configured address and name first', () => {
    assert.equal(hostAddresses('192.0.2.7')[0], '192.0.2.7');
    assert.equal(new Set(hostAddresses('192.0.2.7')).size, hostAddresses('192.0.2.7').length);
    assert.ok(hostAddresses('').length > 0, 'loopback at least');
    assert.equal(hostName('web1'), 'web1');
    assert.ok(hostName('').length > 0);
  });
});
