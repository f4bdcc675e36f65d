/**
 * Class `ocf`: resource agents under OCF_ROOT (Debian's resource-agents
 * puts them in /usr/lib/ocf/resource.d/PROVIDER/TYPE), run as the OCF
 * standard says — the action as the only argument, OCF_RESKEY_<name> for
 * each parameter, OCF_RESOURCE_INSTANCE and the rest in the environment,
 * the exit code the answer. `meta-data` gives the actions' advised time
 * limits. The agent path is resolved under OCF_ROOT and nowhere else.
 */
import { stat } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { OCF, rcMeaning, type ServiceOp, type ServiceSpec } from '../lib/agent/protocol.js';
import { parseDuration } from '../lib/config/values.js';
import { lastLine, runProgram, type RunResult } from '../lib/exec.js';
import type { ClassDriver, OpAnswer, OpRun } from './driver.js';
import { missingProgram, PATH_COMPONENT, timedOutAnswer } from './driver.js';

export interface OcfOptions {
  /** OCF_ROOT: /usr/lib/ocf. */
  readonly root: string;
  /** The environment the agents see besides the OCF variables (PATH, HA_RSCTMP, …). */
  readonly env: NodeJS.ProcessEnv;
}

/** An environment variable name: what a parameter must be to become OCF_RESKEY_<name>. */
const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DEFAULT_PROVIDER = 'heartbeat';
/** OCF 1.1's "running, but degraded" codes: running as far as placement is concerned. */
const DEGRADED = new Map([
  [190, 'running, degraded'],
  [191, 'running promoted, degraded'],
]);

export class OcfDriver implements ClassDriver {
  readonly #o: OcfOptions;
  readonly #metadata = new Map<string, { mtimeMs: number; timeouts: Map<string, number> }>();

  constructor(o: OcfOptions) {
    this.#o = o;
  }

  /** The agent's path, or why there is none. */
  agentPath(spec: Pick<ServiceSpec, 'provider' | 'type'>): { path: string } | { problem: string } {
    const provider = spec.provider ?? DEFAULT_PROVIDER;
    if (!PATH_COMPONENT.test(provider))
      return { problem: `provider "${provider}" is not a resource-agent provider name` };
    if (!PATH_COMPONENT.test(spec.type))
      return { problem: `type "${spec.type}" is not a resource-agent name` };
    const base = resolve(this.#o.root, 'resource.d');
    const path = resolve(base, provider, spec.type);
    const rel = relative(base, path);
    if (rel.startsWith('..') || rel === '') return { problem: `${path} is outside ${base}` };
    return { path };
  }

  async run(r: OpRun): Promise<OpAnswer> {
    const where = this.agentPath(r.spec);
    if ('problem' in where) return { rc: OCF.errArgs, text: where.problem };
    const missing = await missingProgram(where.path, 'resource agent', r);
    if (missing) return missing;
    const env = this.#env(r.spec, r.timeoutMs, r.intervalMs);
    if ('problem' in env) return { rc: OCF.errConfigured, text: env.problem };
    const result = await runProgram(where.path, [r.op], { env: env.vars, timeoutMs: r.timeoutMs });
    return answerOf(`${r.op} of ${r.spec.resource} (${where.path})`, result, r.timeoutMs);
  }

  async advisedTimeoutMs(op: ServiceOp, spec: ServiceSpec): Promise<number | undefined> {
    const where = this.agentPath(spec);
    if ('problem' in where) return undefined;
    const st = await stat(where.path).catch(() => null);
    if (!st) return undefined;
    let cached = this.#metadata.get(where.path);
    if (cached?.mtimeMs !== st.mtimeMs) {
      const env = this.#env(spec, 5000, 0);
      const r = await runProgram(where.path, ['meta-data'], {
        env: 'vars' in env ? env.vars : { ...this.#o.env, OCF_ROOT: this.#o.root },
        timeoutMs: 5000,
        maxOutput: 256 * 1024,
      });
      cached = {
        mtimeMs: st.mtimeMs,
        timeouts: r.code === 0 ? actionTimeouts(r.stdout) : new Map<string, number>(),
      };
      this.#metadata.set(where.path, cached);
    }
    return cached.timeouts.get(op);
  }

  #env(
    spec: ServiceSpec,
    timeoutMs: number,
    intervalMs: number,
  ): { vars: NodeJS.ProcessEnv } | { problem: string } {
    const vars: NodeJS.ProcessEnv = {
      ...this.#o.env,
      OCF_ROOT: this.#o.root,
      OCF_RA_VERSION_MAJOR: '1',
      OCF_RA_VERSION_MINOR: '1',
      OCF_RESOURCE_INSTANCE: spec.resource,
      OCF_RESOURCE_TYPE: spec.type,
      OCF_RESOURCE_PROVIDER: spec.provider ?? DEFAULT_PROVIDER,
      OCF_RESKEY_CRM_meta_timeout: String(timeoutMs),
      // ocf_is_probe: a monitor with interval 0 asks what runs, and must not complain.
      OCF_RESKEY_CRM_meta_interval: String(intervalMs),
    };
    for (const [name, value] of Object.entries(spec.parameters)) {
      if (!PARAMETER_NAME.test(name))
        return {
          problem: `parameter "${name}" cannot be passed to a resource agent (OCF_RESKEY_${name})`,
        };
      vars[`OCF_RESKEY_${name}`] = value;
    }
    return { vars };
  }
}

/** An exit code as an answer, with the agent's own reason when it gave one (ocf_exit_reason). */
export function answerOf(what: string, r: RunResult, timeoutMs: number): OpAnswer {
  if (r.timedOut) return timedOutAnswer(`${what}: process group killed;`, timeoutMs);
  if (r.spawnError !== null) return { rc: OCF.errInstalled, text: `${what}: ${r.spawnError}` };
  const reason = exitReason(r.stderr);
  const said = reason ? `: ${reason}` : '';
  if (r.code === null)
    return { rc: OCF.errGeneric, text: `${what}: killed by ${String(r.signal)}${said}` };
  const degraded = DEGRADED.get(r.code);
  if (degraded) return { rc: OCF.success, text: `${what}: ${degraded}${said}` };
  if (r.code > OCF.notRunning)
    return { rc: OCF.errGeneric, text: `${what}: exit ${r.code}, not an OCF result${said}` };
  return { rc: r.code, text: `${what}: ${rcMeaning(r.code)}${said}` };
}

/** The reason an OCF agent gave (`ocf-exit-reason:` on stderr), else its last line. */
function exitReason(stderr: string): string {
  const marked = stderr
    .split('\n')
    .filter((l) => l.startsWith('ocf-exit-reason:'))
    .at(-1);
  return marked ? marked.slice('ocf-exit-reason:'.length).trim() : lastLine(stderr);
}

/** `<actions><action name="start" timeout="20s"/>…` → start → 20000. */
export function actionTimeouts(xml: string): Map<string, number> {
  const out = new Map<string, number>();
  let doc: unknown;
  try {
    doc = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '',
      isArray: (name) => name === 'action',
      processEntities: false,
    }).parse(xml);
  } catch {
    return out;
  }
  const actions = (doc as { 'resource-agent'?: { actions?: { action?: unknown[] } } })[
    'resource-agent'
  ]?.actions?.action;
  for (const a of actions ?? []) {
    const { name, timeout } = a as { name?: unknown; timeout?: unknown };
    if (typeof name !== 'string' || typeof timeout !== 'string' || out.has(name)) continue;
    const ms = parseDuration(timeout, 24 * 3600_000);
    if (typeof ms === 'number') out.set(name, ms);
  }
  return out;
}
