/**
 * What the CPE needs from whatever runs DPEs: systemd over D-Bus, or child
 * processes. Both keep the same contract, so the reconciler and its restart
 * policy do not care which one runs underneath.
 */
export type DpeState =
  'active' | 'activating' | 'reloading' | 'deactivating' | 'inactive' | 'failed';

export interface DpeChange {
  readonly name: string;
  readonly state: DpeState;
  /** Why it stopped, when it did: "exit-code 3", "signal KILL", … */
  readonly detail?: string;
  readonly pid?: number;
}

export interface DpeSupervisor {
  readonly kind: 'systemd' | 'process';
  /** Starts the DPE of `name`; resolves once it runs (or failed to). A no-op if it runs. */
  start(name: string): Promise<void>;
  /** Stops it; resolves once it is gone. A no-op if it does not run. */
  stop(name: string): Promise<void>;
  /** Asks a running DPE to fetch its config again. */
  reload(name: string): Promise<void>;
  /** What the supervisor last knew of the DPE of `name`. */
  state(name: string): DpeState;
  pid(name: string): number | undefined;
  /** Names whose DPE runs now, including ones started before this CPE (adopted). */
  running(): Promise<string[]>;
  onChange(listener: (change: DpeChange) => void): void;
  /** Stops watching; DPEs keep running (a CPE restart must not disturb deployments). */
  close(): Promise<void>;
}

/**
 * Done before each start of a DPE (its bus password written, schemas/messages.md
 * "Identities"); what it returns joins the environment of a DPE run as a child.
 */
export type PrepareDpe = (name: string) => Readonly<Record<string, string>>;

export function isUp(state: DpeState): boolean {
  return state === 'active' || state === 'activating' || state === 'reloading';
}
