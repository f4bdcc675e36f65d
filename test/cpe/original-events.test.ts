import assert from 'node:assert/strict';
import { ocfReason, originalEvents, type OriginalContext } from '../../cpe/original-events.js';
import { qmfText } from '../../lib/bus/qmf.js';
import type { LoggedEvent } from '../../lib/events/record.js';

const ctx: OriginalContext = {
  uuid: 'uuid-orig',
  typeOf: (id) => ({ rsc_web_httpd: 'httpd' })[id],
};

function ours(kind: string, values: Record<string, unknown>): LoggedEvent {
  return {
    seq: 1,
    id: 'x',
    time: 1000,
    stored: 1001,
    deployable: 'orig',
    assembly: null,
    service: null,
    kind,
    state: null,
    severity: 'info',
    source: 'dpe.orig',
    text: '',
    values: { deployable: 'orig', ...values },
  };
}

/** [class, state, reason] of what the dped would have raised. */
function said(kind: string, values: Record<string, unknown>): string[][] {
  return originalEvents(ours(kind, values), ctx).map((e) => [
    e.name,
    qmfText(e.values.state),
    qmfText(e.values.reason),
  ]);
}

describe("the original's events, from ours", () => {
  it("carry the dped's values: the deployable's uuid, the service's type, the original package's classes", () => {
    const [e] = originalEvents(
      ours('service_state_change', {
        service: 'rsc_web_httpd',
        assembly: 'web',
        state: 'failed',
        previous: 'running',
        reason: 'monitor on web: rc 7 (not running)',
      }),
      ctx,
    );
    assert.deepEqual(e, {
      name: 'service_state_change',
      timestamp: 1000,
      severity: 'notice',
      values: {
        deployable: 'uuid-orig',
        assembly: 'web',
        service: 'httpd',
        state: 'failed',
        reason: 'monitor failed',
      },
    });
  });

  it('say "all assemblies active" when everything runs, "change in assembly state" when that ends, nothing between', () => {
    const d = (state: string, previous: string | null): string[][] =>
      said('deployable_state_change', { state, previous, reason: '…' });
    assert.deepEqual(d('running', 'starting'), [
      ['deployable_state_change', 'running', 'all assemblies active'],
    ]);
    assert.deepEqual(d('degraded', 'running'), [
      ['deployable_state_change', 'recovering', 'change in assembly state'],
    ]);
    assert.deepEqual(d('down', 'running'), [
      ['deployable_state_change', 'recovering', 'change in assembly state'],
    ]);
    assert.deepEqual(d('down', 'degraded'), []);
    assert.deepEqual(d('degraded', 'starting'), []);
  });

  it('say "All good" when an assembly comes online and "Not reachable" when it is down; a late beat is no state', () => {
    const a = (state: string, previous: string | null): string[][] =>
      said('assembly_state_change', { assembly: 'web', state, previous, reason: '…' });
    assert.deepEqual(a('up', 'unknown'), [['assembly_state_change', 'running', 'All good']]);
    assert.deepEqual(a('up', 'down'), [['assembly_state_change', 'running', 'All good']]);
    assert.deepEqual(a('down', 'suspect'), [['assembly_state_change', 'failed', 'Not reachable']]);
    assert.deepEqual(a('suspect', 'up'), []);
    assert.deepEqual(a('up', 'suspect'), []);
    assert.deepEqual(a('recovering', 'down'), []);
  });

  it("give a service's start, probe, monitor and stop results the dped's words, OCF reasons spelled as it spelled them", () => {
    const s = (state: string, previous: string | null, reason: string): string[][] =>
      said('service_state_change', {
        service: 'rsc_web_httpd',
        assembly: 'web',
        state,
        previous,
        reason,
      });
    assert.deepEqual(s('running', 'stopped', 'start on web: rc 0 (ok)'), [
      ['service_state_change', 'running', 'Started OK'],
    ]);
    assert.deepEqual(s('running', 'failed', 'restart on web: rc 0 (ok)'), [
      ['service_state_change', 'running', 'Started OK'],
    ]);
    assert.deepEqual(s('running', null, 'new agent session: inventory'), [
      ['service_state_change', 'running', 'Already running'],
    ]);
    assert.deepEqual(s('running', 'unknown', 'probe on web: rc 0 (ok)'), [
      ['service_state_change', 'running', 'Already running'],
    ]);
    assert.deepEqual(s('stopped', null, 'new agent session: inventory'), [
      ['service_state_change', 'stopped', 'Not yet running'],
    ]);
    assert.deepEqual(s('stopped', 'running', 'stop on web: rc 0 (ok)'), []);
    assert.deepEqual(s('failed', 'running', 'monitor on web: rc 7 (not running)'), [
      ['service_state_change', 'failed', 'monitor failed'],
    ]);
    assert.deepEqual(s('failed', 'stopped', 'start on web: rc 5 (not installed)'), [
      ['service_state_change', 'failed', 'not installed'],
    ]);
    assert.deepEqual(s('failed', 'stopped', 'start on web: rc 2 (invalid parameter)'), [
      ['service_state_change', 'failed', 'invalid paramter'],
    ]);
    assert.deepEqual(s('failed', 'stopped', 'start on web: timed out after 3000 ms'), [
      ['service_state_change', 'failed', 'unknown error'],
    ]);
    assert.deepEqual(s('unknown', 'running', 'stop timed out'), []);
    assert.equal(ocfReason(4), 'insufficient privliges');
    assert.equal(ocfReason(99), 'Unknown Error');
  });

  it('tell escalations as the dped did: to the assembly, or to the deployable in two events', () => {
    assert.deepEqual(
      said('action_started', { type: 'escalate', level: 'assembly', assembly: 'web' }),
      [['assembly_state_change', 'failed', 'escalating service failure']],
    );
    assert.deepEqual(
      said('action_started', { type: 'escalate', level: 'deployable', assembly: 'web' }),
      [
        ['assembly_state_change', 'failed', 'escalating assembly failure'],
        ['deployable_state_change', 'failed', 'assembly failure escalated to deployable'],
      ],
    );
    assert.deepEqual(said('action_started', { type: 'restart', assembly: 'web' }), []);
    assert.deepEqual(said('dpe_ready', { generation: 1 }), []);
  });
});
