/**
 * Runs xmllint (libxml2 compiled to wasm) in one long-lived worker thread:
 * requests queue up and run one at a time. A request that overruns its
 * timeout terminates the worker (a runaway parse cannot hang the caller);
 * the next request starts a fresh one. The worker does not keep the
 * process alive, and goes away after a while without requests: it holds
 * some 20 MB that a daemon validating now and then should not keep.
 */
import { join } from 'node:path';
import type * as WorkerThreads from 'node:worker_threads';
import { onFirstUse } from '../lazy.js';
import { packageRoot } from '../paths.js';

// A DPE imports this module with the config's others but never validates
// against the schema (the CPE did): worker_threads was ~0.3 MB of each.
const workerThreads = onFirstUse<typeof WorkerThreads>('node:worker_threads');

export interface XmllintFile {
  readonly fileName: string;
  readonly contents: string;
}

export interface XmllintResult {
  /** 0 valid; 1 not well-formed; 3/4 schema errors; -1 the validator itself failed. */
  readonly exitCode: number;
  readonly stderr: string;
}

interface Pending {
  readonly id: number;
  readonly message: unknown;
  readonly timeoutMs: number;
  resolve(result: XmllintResult): void;
  reject(err: Error): void;
}

const PAGE = 64 * 1024;

export class Xmllint {
  #worker: WorkerThreads.Worker | undefined;
  #queue: Pending[] = [];
  #current: { pending: Pending; timer: NodeJS.Timeout } | undefined;
  #nextId = 1;
  #idle: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxMemoryBytes = 256 * 1024 * 1024,
    private readonly idleMs = 30_000,
  ) {}

  /** `xmllint --schema SCHEMA --noout DOC`, with every file in an in-memory file system. */
  validate(
    doc: XmllintFile,
    schema: XmllintFile,
    others: readonly XmllintFile[],
    timeoutMs: number,
  ): Promise<XmllintResult> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      const message = {
        kind: 'cpe-xmllint',
        id,
        files: [doc, schema, ...others],
        args: ['--schema', schema.fileName, '--noout', doc.fileName],
        initialPages: 256, // 16 MiB
        maxPages: Math.ceil(this.maxMemoryBytes / PAGE),
      };
      this.#queue.push({ id, message, timeoutMs, resolve, reject });
      this.#pump();
    });
  }

  /**
   * Starts the worker now, so that its start-up (a new V8 isolate, the wasm
   * compile) overlaps the caller's own loading instead of following it.
   * It still goes away after idleMs without requests.
   */
  warmUp(): void {
    this.#ensureWorker();
    this.#pump();
  }

  /** Stops the worker; queued requests fail. */
  async close(): Promise<void> {
    clearTimeout(this.#idle);
    const worker = this.#worker;
    this.#worker = undefined;
    for (const p of this.#queue.splice(0)) p.reject(new Error('validator closed'));
    if (this.#current) this.#fail(new Error('validator closed'));
    await worker?.terminate();
  }

  #pump(): void {
    clearTimeout(this.#idle);
    if (this.#current) return;
    if (this.#queue.length === 0) {
      if (this.#worker) {
        this.#idle = setTimeout(() => this.#restart(), this.idleMs);
        this.#idle.unref();
      }
      return;
    }
    const pending = this.#queue.shift()!;
    const worker = this.#ensureWorker();
    const timer = setTimeout(() => {
      this.#fail(new Error(`validation took over ${pending.timeoutMs} ms`));
      this.#restart();
    }, pending.timeoutMs);
    this.#current = { pending, timer };
    worker.postMessage(pending.message);
  }

  #ensureWorker(): WorkerThreads.Worker {
    if (this.#worker) return this.#worker;
    const { Worker } = workerThreads();
    const worker = new Worker(join(packageRoot(), 'lib', 'config', 'xmllint-worker.cjs'), {
      execArgv: [],
      stdout: false,
      stderr: false,
    });
    worker.on(
      'message',
      (reply: { kind?: string; id?: number; exitCode: number; stderr: string }) => {
        const current = this.#current;
        if (
          reply.kind !== 'cpe-xmllint' ||
          current === undefined ||
          reply.id !== current.pending.id
        )
          return;
        const { pending, timer } = current;
        clearTimeout(timer);
        this.#current = undefined;
        pending.resolve({ exitCode: reply.exitCode, stderr: reply.stderr });
        this.#pump();
      },
    );
    worker.on('error', (err) => {
      this.#fail(err);
      this.#restart();
    });
    worker.on('exit', () => {
      if (this.#worker === worker) {
        this.#worker = undefined;
        this.#fail(new Error('validator worker exited'));
        this.#pump();
      }
    });
    // After the listeners: adding a 'message' listener refs the port again.
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #fail(err: Error): void {
    const current = this.#current;
    if (!current) return;
    clearTimeout(current.timer);
    this.#current = undefined;
    current.pending.reject(err);
  }

  #restart(): void {
    const worker = this.#worker;
    this.#worker = undefined;
    void worker?.terminate();
    this.#pump();
  }
}

let shared: Xmllint | undefined;

/** The process's validator: one worker for every config checked here. */
export function sharedXmllint(): Xmllint {
  return (shared ??= new Xmllint());
}
