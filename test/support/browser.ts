/**
 * A real headless Chromium (Debian's `chromium`) driven over the DevTools
 * protocol on a pipe (--remote-debugging-pipe: JSON messages ending in NUL
 * on fds 3 and 4), so that no WebSocket client is needed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM = '/usr/bin/chromium';

/** Why there is no browser to test with, or undefined. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM)
    ? undefined
    : `${CHROMIUM} is not installed (apt-get install chromium)`;
}

interface Reply {
  id?: number;
  result?: Record<string, unknown>;
  error?: { message: string };
}

export class Browser {
  #next = 0;
  readonly #waiting = new Map<number, (r: Reply) => void>();
  #session = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    let buffer = '';
    (child.stdio[4] as Readable).on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let end: number;
      while ((end = buffer.indexOf('\0')) >= 0) {
        const message = JSON.parse(buffer.slice(0, end)) as Reply;
        buffer = buffer.slice(end + 1);
        if (message.id !== undefined) this.#waiting.get(message.id)?.(message);
      }
    });
  }

  static async open(url: string): Promise<Browser> {
    const profile = mkdtempSync(join(tmpdir(), 'cpe-chromium-'));
    const child = spawn(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        '--remote-debugging-pipe',
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
    );
    const browser = new Browser(child, profile);
    const { targetId } = await browser.send('Target.createTarget', { url });
    const { sessionId } = await browser.send('Target.attachToTarget', { targetId, flatten: true });
    browser.#session = sessionId as string;
    return browser;
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    session?: string,
  ): Promise<Record<string, unknown>> {
    const id = ++this.#next;
    (this.child.stdio[3] as Writable).write(
      `${JSON.stringify({ id, method, params, ...(session ? { sessionId: session } : {}) })}\0`,
    );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${method}: no answer from Chromium`)),
        20_000,
      );
      this.#waiting.set(id, (r) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        if (r.error) reject(new Error(`${method}: ${r.error.message}`));
        else resolve(r.result ?? {});
      });
    });
  }

  /** Evaluates an expression in the page; its value. */
  async evaluate(expression: string): Promise<unknown> {
    const r = await this.send(
      'Runtime.evaluate',
      { expression, returnByValue: true },
      this.#session,
    );
    return (r.result as { value?: unknown } | undefined)?.value;
  }

  /** Polls an expression until it is truthy. */
  async until(expression: string, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.evaluate(expression)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `the page never showed ${what}: ${String(await this.evaluate('document.body.innerText'))}`,
    );
  }

  async close(): Promise<void> {
    await this.send('Browser.close').catch(() => undefined);
    if (this.child.exitCode === null)
      await new Promise<void>((r) => {
        const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
        this.child.once('exit', () => {
          clearTimeout(timer);
          r();
        });
      });
    rmSync(this.profile, { recursive: true, force: true });
  }
}
