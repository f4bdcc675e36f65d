import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { runningFromPidfile } from '../../cpe/process-supervisor.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProfileName } from '../../lib/bus/addressing.js';
import { AgentsProcess } from './agents.js';
import { CpeClient, CpeProcess, freePort, type CpeProcessOptions } from './cpe.js';

/** A deployable for DPE tests: quick heartbeats and monitors, a recovery command, a never-twice service. */
export function simConfig(name: string, recoveryCommand: string): string {
  const service = (extra = ''): string => `monitor_interval="500ms" timeout="3s"${extra}`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<deployable name="${name}" uuid="uuid-${name}" schema_version="2">
  <heartbeat interval="500ms" missed="3"/>
  <recovery driver="command" command="${recoveryCommand}" timeout="10s"/>
  <assemblies>
    <assembly name="a1" uuid="uuid-a1">
      <services>
        <service name="web" class="systemd" type="web.service" ${service(' escalation_failures="3" escalation_period="1m"')}/>
      </services>
    </assembly>
    <assembly name="a2" uuid="uuid-a2">
      <services>
        <service name="app" class="systemd" type="app.service" ${service(' escalation_failures="2" escalation_period="1m"')}/>
      </services>
    </assembly>
    <assembly name="a3" uuid="uuid-a3">
      <services>
        <service name="db" class="ocf" provider="heartbeat" type="Dummy" unique="true" ${service()}/>
      </services>
    </assembly>
    <assembly name="a4" uuid="uuid-a4"/>
  </assemblies>
</deployable>
`;
}

/**
 * Polls `get` until `ok` holds; returns the value that did. A failed call is
 * tried again: right after a broker restart a request can be lost before
 * the server's link is attached again, and the caller retries, as an
 * operator would.
 */
export async function waitFor<T>(
  get: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    try {
      last = await get();
      if (ok(last)) return last;
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

export interface LoopOptions {
  readonly name: string;
  /** The deployable's config, given the CPE's state directory. */
  readonly xml: (stateDir: string) => string;
  /** The settings file's content (the CPE's and its DPEs'), given the state directory. */
  readonly settings?: (stateDir: string) => Readonly<Record<string, unknown>>;
  readonly broker?: { readonly url: string; readonly profile: ProfileName };
  readonly router?: CpeProcessOptions['router'];
  /** Runs dist/ (benchmarks) instead of the sources under tsx. */
  readonly compiled?: boolean;
  /** Start simulated agents for the config's assemblies (default true). */
  readonly agents?: boolean;
  /** Called before the deployable is created (subscribe to its events, start agents here). */
  readonly beforeCreate?: (api: CpeClient, cpe: CpeProcess) => Promise<void>;
  /** How the deployable comes to be (default: deployable_create with the config). */
  readonly create?: (api: CpeClient, xml: string) => Promise<unknown>;
}

/** A closed loop on real processes: a CPE (and its DPE), simulated agents, the deployable created. */
export interface Loop {
  readonly cpe: CpeProcess;
  readonly api: CpeClient;
  readonly agents: AgentsProcess | undefined;
  close(): Promise<void>;
}

/** Kills the DPEs still running from a CPE's state directory (its process supervisor's pidfiles). */
export function killLeftDpes(stateDir: string): void {
  const dir = join(stateDir, 'dpe');
  if (!existsSync(dir)) return;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.pid'))) {
    const running = runningFromPidfile(join(dir, file));
    try {
      if (running) process.kill(running.pid, 'SIGKILL');
    } catch {
      // it ended meanwhile
    }
  }
}

export async function startLoop(o: LoopOptions): Promise<Loop> {
  const dir = mkdtempSync(join(tmpdir(), 'cpe-state-'));
  const cpe = new CpeProcess(dir, await freePort(), o.compiled ?? false, {
    ...(o.broker ? { broker: o.broker } : {}),
    ...(o.router ? { router: o.router } : {}),
    settings: o.settings?.(dir) ?? {},
  });
  await cpe.start();
  const profile = o.broker?.profile ?? 'embedded';
  const api = new CpeClient(cpe.url, profile, o.router?.tls.ca);
  try {
    await api.bus.whenUp(10_000);
    await o.beforeCreate?.(api, cpe);
  } catch (err) {
    // Nothing may outlive a failed set-up: a CPE left running keeps the test run from ending.
    await api.close();
    await cpe.stop();
    throw err;
  }
  const xml = o.xml(dir);
  const file = join(dir, `${o.name}.xml`);
  writeFileSync(file, xml);
  let agents: AgentsProcess | undefined;
  if (o.agents !== false) {
    agents = new AgentsProcess(
      o.name,
      file,
      cpe.url,
      profile,
      cpe.settingsFile,
      o.compiled,
      cpe.urlAs(`agent.${o.name}`),
    );
    await agents.start();
  }
  await (o.create
    ? o.create(api, xml)
    : api.call('deployable_create', { name: o.name, config: xml }));
  return {
    cpe,
    api,
    agents,
    close: async () => {
      await api.call('deployable_destroy', { name: o.name }).catch(() => undefined);
      await agents?.stop();
      await api.close();
      await cpe.stop();
      // A test that failed while its CPE was down leaves DPEs nobody destroyed: not past the test.
      killLeftDpes(cpe.stateDir);
    },
  };
}
