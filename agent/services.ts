/**
 * The agent's service calls: one operation at a time per service (a
 * monitor never races the start it would misread), each bounded by its
 * time limit counted from when the call arrived, dispatched to its class,
 * and the list of managed services kept in step — written before a start,
 * cleared by a successful stop or a monitor that finds nothing running.
 */
import type { ServiceClass } from '../lib/config/index.js';
import { OCF, type ServiceOp, type ServiceSpec } from '../lib/agent/protocol.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { ClassDriver, OpAnswer } from './driver.js';
import { timedOutAnswer } from './driver.js';
import { SerialByKey } from '../lib/serial.js';
import type { ManagedServices } from './managed.js';

export interface ServiceRunnerOptions {
  readonly drivers: Readonly<Record<ServiceClass, ClassDriver>>;
  readonly managed: ManagedServices;
  /** The time limit where the caller gives none and the service advises none. */
  readonly defaultTimeoutMs: number;
  /** The longest a monitor may take when an inventory asks (the DPE waits 5 s for all). */
  readonly inventoryMonitorMs: number;
  readonly log: Logger;
}

export interface InventoryEntry {
  readonly resource: string;
  readonly rc: number;
  readonly text: string;
}

export class ServiceRunner {
  readonly #o: ServiceRunnerOptions;
  /** One operation at a time per service, in the order they came. */
  readonly #queue = new SerialByKey();
  /** Warned once each: time limits shorter than the service advises. */
  readonly #warned = new Set<string>();

  constructor(o: ServiceRunnerOptions) {
    this.#o = o;
  }

  /** Runs one operation; `timeoutMs` undefined takes the service's advice, else the default. */
  call(
    op: ServiceOp,
    spec: ServiceSpec,
    timeoutMs: number | undefined,
    intervalMs = 0,
  ): Promise<OpAnswer> {
    const arrived = Date.now();
    // Queued first, in the order the calls came: the limit (which may read
    // the agent's meta-data) is looked up once it is this call's turn.
    return this.#queue.run(spec.resource, async () => {
      const limit = await this.#limit(op, spec, timeoutMs);
      const left = arrived + limit - Date.now();
      if (left <= 0)
        return timedOutAnswer(`${op} of ${spec.resource} (waiting for the one before)`, limit);
      if (op === 'start') this.#o.managed.add(spec, limit);
      const answer = await this.#run(op, spec, left, op === 'monitor' ? intervalMs : 0);
      this.#track(op, spec, limit, answer);
      return answer;
    });
  }

  /** Every managed service with a monitor result now (a probe: what runs, not what should). */
  async inventory(): Promise<InventoryEntry[]> {
    return Promise.all(
      this.#o.managed.list().map(({ spec, timeoutMs }) =>
        this.#queue.run(spec.resource, async () => {
          const answer = await this.#run(
            'monitor',
            spec,
            Math.min(timeoutMs, this.#o.inventoryMonitorMs),
            0,
          );
          this.#track('monitor', spec, timeoutMs, answer);
          return { resource: spec.resource, rc: answer.rc, text: answer.text };
        }),
      ),
    );
  }

  async #run(
    op: ServiceOp,
    spec: ServiceSpec,
    timeoutMs: number,
    intervalMs: number,
  ): Promise<OpAnswer> {
    const log = this.#o.log.child({ resource: spec.resource, op });
    try {
      const answer = await this.#o.drivers[spec.class].run({ op, spec, timeoutMs, intervalMs });
      const level =
        answer.timedOut || (answer.rc !== OCF.success && op !== 'monitor') ? 'warn' : 'debug';
      log[level]('operation done', { rc: answer.rc, text: answer.text });
      return answer;
    } catch (err) {
      log.error('operation failed', { error: errorMessage(err) });
      return { rc: OCF.errGeneric, text: `${op} of ${spec.resource}: ${errorMessage(err)}` };
    }
  }

  #track(op: ServiceOp, spec: ServiceSpec, limit: number, a: OpAnswer): void {
    const gone = a.rc === OCF.notRunning || (op === 'stop' && a.rc === OCF.success);
    // A failed stop or an error leaves something that may run: keep watching it.
    if (gone && op !== 'start') this.#o.managed.remove(spec.resource);
    else if (op !== 'stop' || a.rc !== OCF.success) this.#o.managed.add(spec, limit);
  }

  async #limit(op: ServiceOp, spec: ServiceSpec, given: number | undefined): Promise<number> {
    const advised = await this.#o.drivers[spec.class]
      .advisedTimeoutMs?.(op, spec)
      .catch(() => undefined);
    if (given === undefined) return advised ?? this.#o.defaultTimeoutMs;
    const key = `${spec.resource}:${op}`;
    if (advised !== undefined && given < advised && !this.#warned.has(key)) {
      this.#warned.add(key);
      this.#o.log.warn('time limit shorter than the resource agent advises', {
        resource: spec.resource,
        op,
        timeout_ms: given,
        advised_ms: advised,
      });
    }
    return given;
  }

  close(): void {
    for (const d of Object.values(this.#o.drivers)) d.close?.();
  }
}
