/**
 * What an agent reports of its assembly on every beat: load and memory from
 * /proc (placement reads them), CPUs, and the facts parameter references
 * resolve to — host name and address.
 */
import { readFileSync } from 'node:fs';
import {
  hostname,
  loadavg,
  networkInterfaces,
  totalmem,
  freemem,
  availableParallelism,
} from 'node:os';

export interface HostMetrics {
  readonly load1: number;
  readonly mem_total_mb: number;
  readonly mem_free_mb: number;
  readonly cpus: number;
}

function readProc(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

const MIB = 1024 * 1024;

/** Load, memory and CPUs from /proc (os's figures where /proc cannot be read). */
export function hostMetrics(proc = '/proc'): HostMetrics {
  const load1 = Number(readProc(`${proc}/loadavg`)?.split(' ')[0]);
  const meminfo = readProc(`${proc}/meminfo`) ?? '';
  const kib = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(meminfo);
    return m ? Number(m[1]) : undefined;
  };
  // MemAvailable: what can be had without swapping, which "free" alone understates.
  const total = kib('MemTotal');
  const free = kib('MemAvailable') ?? kib('MemFree');
  const cpus = (readProc(`${proc}/stat`) ?? '').match(/^cpu\d+ /gm)?.length;
  return {
    load1: Number.isFinite(load1) ? load1 : (loadavg()[0] ?? 0),
    mem_total_mb: Math.round(total !== undefined ? total / 1024 : totalmem() / MIB),
    mem_free_mb: Math.round(free !== undefined ? free / 1024 : freemem() / MIB),
    cpus: cpus ?? availableParallelism(),
  };
}

/**
 * The assembly's addresses, the one its references resolve to first: the
 * setting if given, else its IPv4 addresses (then IPv6) on interfaces
 * other than loopback, by interface name; loopback only when nothing else.
 */
export function hostAddresses(configured: string): string[] {
  const all = Object.entries(networkInterfaces()).sort(([x], [y]) => (x < y ? -1 : 1));
  const found = (family: string, internal: boolean): string[] =>
    all.flatMap(([, list]) =>
      (list ?? [])
        .filter(
          (i) => i.family === family && i.internal === internal && !i.address.startsWith('fe80:'),
        )
        .map((i) => i.address),
    );
  const out = [...found('IPv4', false), ...found('IPv6', false)];
  if (out.length === 0) out.push(...found('IPv4', true), ...found('IPv6', true));
  return configured ? [configured, ...out.filter((a) => a !== configured)] : out;
}

export function hostName(configured: string): string {
  return configured || hostname();
}
