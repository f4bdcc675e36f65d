import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger, type LogFormat } from '../../lib/log.js';

function capture(format: LogFormat, level: 'info' | 'debug' = 'info') {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  const log = createLogger({ name: 'test', level, format, stream });
  return { log, lines: () => chunks.join('').trimEnd().split('\n') };
}

describe('logger', () => {
  it('writes journal lines with syslog priorities and context', () => {
    const { log, lines } = capture('journal', 'debug');
    const child = log.child({ deployable: 'wordpress', action: 'restart-7' });
    child.error('restart failed', { service: 'rsc_web_wp', reason: 'exit code 3' });
    child.warn('w');
    log.info('i');
    log.debug('d');
    assert.deepEqual(lines(), [
      '<3>restart failed action=restart-7 deployable=wordpress reason="exit code 3" service=rsc_web_wp',
      '<4>w action=restart-7 deployable=wordpress',
      '<6>i',
      '<7>d',
    ]);
  });

  it('writes text lines with a timestamp, the program and the level', () => {
    const { log, lines } = capture('text');
    log.info('started', { port: 5672 });
    log.debug('not shown at info');
    const [line, ...rest] = lines();
    assert.match(line!, /^\d{4}-\d\d-\d\dT[\d:.]+Z test INFO started port=5672$/);
    assert.deepEqual(rest, []);
  });

  it('writes its timestamps without Date.prototype.toISOString (V8 looks up the time zone name)', () => {
    const { log, lines } = capture('json');
    const spied = Object.getOwnPropertyDescriptor(Date.prototype, 'toISOString')!;
    let calls = 0;
    Object.defineProperty(Date.prototype, 'toISOString', {
      ...spied,
      value(this: Date): string {
        calls += 1;
        return (spied.value as (this: Date) => string).call(this);
      },
    });
    const before = Date.now();
    try {
      log.info('x');
    } finally {
      Object.defineProperty(Date.prototype, 'toISOString', spied);
    }
    const stamp = Date.parse((JSON.parse(lines()[0]!) as { timestamp: string }).timestamp);
    assert.equal(calls, 0);
    assert.ok(stamp >= before && stamp <= Date.now());
  });

  it('writes JSON lines', () => {
    const { log, lines } = capture('json');
    log.warn('x', { deployable: 'd' });
    const parsed = JSON.parse(lines()[0]!) as Record<string, unknown>;
    assert.equal(parsed.level, 'warn');
    assert.equal(parsed.program, 'test');
    assert.equal(parsed.deployable, 'd');
  });

  it('uses the journal format when stderr is the JOURNAL_STREAM', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpe-log-'));
    const run = (journal: boolean): string => {
      const file = join(dir, journal ? 'journal' : 'plain');
      const fd = openSync(file, 'w');
      const st = fstatSync(fd);
      const env = { ...process.env, JOURNAL_STREAM: journal ? `${st.dev}:${st.ino}` : '1:1' };
      const child = spawnSync(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, '..', 'support', 'log-child.ts')],
        {
          env,
          stdio: ['ignore', 'ignore', fd],
        },
      );
      closeSync(fd);
      assert.equal(child.status, 0);
      return readFileSync(file, 'utf8');
    };
    assert.equal(
      run(true),
      '<3>broke action=a1 deployable=wp\n<4>careful deployable=wp\n<6>hello deployable=wp\n<7>detail deployable=wp\n',
    );
    assert.match(run(false), /^\S+ log-child ERROR broke action=a1 deployable=wp\n/);
  });
});
