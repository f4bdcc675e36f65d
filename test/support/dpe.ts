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
