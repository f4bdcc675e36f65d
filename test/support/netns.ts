/**
 * Test hosts in network namespaces: a bridge in this (the router's)
 * namespace, and per host a namespace joined to it by a veth pair — the
 * host side a "switch port" the test can take down. Root only.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why namespaces cannot be made here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync('/usr/sbin/ip') && !existsSync('/sbin/ip') && !existsSync('/usr/bin/ip'))
    return 'ip (iproute2) is missing';
  return undefined;
}

export interface TestHost {
  readonly name: string;
  readonly netns: string;
  /** The veth end on the bridge: down, and the host is cut off. */
  readonly port: string;
  readonly address: string;
}

export class TestNetwork {
  readonly bridge: string;
  readonly gateway: string;
  readonly hosts: TestHost[] = [];
  readonly #prefix: string;
  readonly #tag: string;

  constructor() {
    // Names fit IFNAMSIZ (15); the subnet is picked per run so parallel runs do not meet.
    this.#tag = (process.pid % 100_000).toString(36);
    const third = 10 + (process.pid % 240);
    this.#prefix = `10.231.${third}`;
    this.bridge = `cbr${this.#tag}`;
    this.gateway = `${this.#prefix}.1`;
    ip('link', 'add', this.bridge, 'type', 'bridge');
    ip('addr', 'add', `${this.gateway}/24`, 'dev', this.bridge);
    ip('link', 'set', this.bridge, 'up');
  }

  /** A new host on the bridge, at the next address. */
  addHost(name: string): TestHost {
    const n = this.hosts.length + 2;
    const netns = `cpet-${this.#tag}-${name}`;
    const port = `cp${this.#tag}${n}`;
    const inside = `ci${this.#tag}${n}`;
    const address = `${this.#prefix}.${n}`;
    ip('netns', 'add', netns);
    ip('link', 'add', port, 'type', 'veth', 'peer', 'name', inside);
    ip('link', 'set', inside, 'netns', netns);
    ip('link', 'set', port, 'master', this.bridge);
    ip('link', 'set', port, 'up');
    ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', inside);
    ip('-n', netns, 'link', 'set', inside, 'up');
    ip('-n', netns, 'link', 'set', 'lo', 'up');
    const host = { name, netns, port, address };
    this.hosts.push(host);
    return host;
  }

  link(host: TestHost, up: boolean): void {
    ip('link', 'set', host.port, up ? 'up' : 'down');
  }

  /** The command prefix that runs a program on the host. */
  wrap(host: TestHost): string[] {
    return ['ip', 'netns', 'exec', host.netns];
  }

  destroy(): void {
    for (const h of this.hosts) {
      try {
        ip('netns', 'del', h.netns); // takes its veth end, and so the pair, with it
      } catch {
        /* already gone */
      }
    }
    try {
      ip('link', 'del', this.bridge);
    } catch {
      /* already gone */
    }
  }
}
