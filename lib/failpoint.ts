/**
 * Failpoints for crash tests: `CPE_FAILPOINTS=name,…` in a daemon's
 * environment makes it kill itself (SIGKILL, as a power cut would stop it)
 * when it reaches one of those points. Unset in production, it costs one
 * lookup.
 */
const armed = new Set((process.env.CPE_FAILPOINTS ?? '').split(',').filter(Boolean));

export function failpoint(name: string): void {
  if (armed.has(name)) process.kill(process.pid, 'SIGKILL');
}
