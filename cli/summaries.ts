/**
 * Each command's one-line summary, in `cpectl --help` order: the overview
 * reads this alone, so that it loads no command (cli/main.ts), and each
 * command module takes its summary from here.
 */
export const SUMMARY = {
  validate: 'check deployable configs; print ok or every problem',
  show: 'print the compiled model of a deployable config',
  simulate: 'run the policy engine on a saved state and print the plan',
  create: 'create a deployable from its config; the CPE starts its DPE',
  update: "replace a deployable's config; its running DPE picks it up",
  destroy: 'destroy a deployable: its DPE is stopped, its config forgotten',
  list: 'list the deployables the CPE keeps',
  status: "show every deployable's state, or one's in full: its DPE, assemblies and services",
  events: "show the CPE's event log: what happened, and why",
  start: 'set a stopped deployable running again',
  stop: 'stop a deployable (its DPE stops; its config is kept)',
  fault: 'inject a fault into a simulated assembly (cpe-agent --simulate)',
  'bus-password': "print a credentials-file line for the embedded router's SASL PLAIN",
  'bus-credentials': "print a user's password on the embedded router, as the CPE's key derives it",
} as const;

export type CommandName = keyof typeof SUMMARY;
