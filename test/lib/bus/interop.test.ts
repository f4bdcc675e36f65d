import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Bus } from '../../../lib/bus/bus.js';
import { publishEvents } from '../../../lib/bus/events.js';
import { MethodServer } from '../../../lib/bus/server.js';
import { silentLogger } from '../../../lib/log.js';
import { CI, connect, embedded, rabbitmq, type Transport } from '../../support/bus.js';

const logger = silentLogger();
const PYTHON = '/usr/bin/python3';
const PEER = join(import.meta.dirname, '..', '..', 'support', 'interop.py');

function protonAvailable(): boolean {
  return spawnSync(PYTHON, ['-c', 'import proton'], { stdio: 'ignore' }).status === 0;
}

/** Runs the Proton peer against our server; publishes an event once it has subscribed. */
async function runPeer(
  transport: Transport,
  bus: Bus,
  address: string,
  topic: string,
): Promise<Record<string, unknown>[]> {
  const child = spawn(PYTHON, [PEER, transport.url, transport.profile, address, 'calc', topic], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const records: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  for await (const line of createInterface({ input: child.stdout })) {
    const record = JSON.parse(line) as Record<string, unknown>;
    records.push(record);
    if (record.ready) {
      publishEvents(bus, topic, [
        {
          name: 'assembly_state_change',
          timestamp: 1_700_000_000_000,
          severity: 'warn',
          values: { deployable: 'wp', assembly: 'web1', state: 'suspect' },
        },
      ]);
    }
  }
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `proton peer failed: ${stderr}\n${JSON.stringify(records)}`);
  return records;
}

function suite(title: string, setup: (ctx: Mocha.Context) => Promise<Transport>): void {
  describe(`interoperation with Apache Qpid Proton over the ${title}`, function () {
    this.timeout(60_000);
    let transport: Transport;
    let bus: Bus;
    let server: MethodServer;

    before(async function () {
      if (!protonAvailable()) {
        if (CI) throw new Error('python3-qpid-proton is required under CI=true');
        this.skip();
      }
      transport = await setup(this);
      bus = connect(transport, 'interop');
      server = new MethodServer(bus, {
        address: `interop.calc.${process.pid}`,
        logger,
        objects: {
          calc: {
            echo: {
              args: { value: { type: 'string' }, n: { type: 'integer' } },
              handler: (a) => ({ value: a.value!, doubled: (a.n as number) * 2 }),
            },
          },
        },
      });
      await bus.whenUp(10_000);
      await server.start();
    });

    after(async () => {
      server?.close();
      await bus?.close();
      await transport?.stop();
    });

    it('answers its QMF method call and query, and delivers it our event', async () => {
      const records = await runPeer(
        transport,
        bus,
        `interop.calc.${process.pid}`,
        `interop.events.${process.pid}`,
      );
      const reply = records.find((r) => r.reply)?.reply;
      const event = records.find((r) => r.event)?.event;
      assert.deepEqual(records.find((r) => r.query)?.query, {
        opcode: '_query_response',
        content: '_data',
        correlation_id: 'proton-2',
        body: [
          {
            _object_id: { _object_name: 'calc' },
            _schema_id: {
              _package_name: 'org.cloudpolicyengine',
              _class_name: 'calc',
              _type: '_data',
            },
            _values: {},
          },
        ],
      });
      assert.deepEqual(reply, {
        opcode: '_method_response',
        correlation_id: 'proton-1',
        body: { _arguments: { value: 'from proton', doubled: 84 } },
      });
      assert.deepEqual(event, {
        opcode: '_data_indication',
        content: '_event',
        body: {
          _schema_id: {
            _package_name: 'org.cloudpolicyengine',
            _class_name: 'assembly_state_change',
            _type: '_event',
          },
          _timestamp: 1_700_000_000_000,
          _severity: 4,
          _values: { deployable: 'wp', assembly: 'web1', state: 'suspect' },
        },
      });
    });
  });
}

suite('embedded router', () => embedded());
suite('RabbitMQ AMQP 1.0 plugin', (ctx) => rabbitmq(ctx));
