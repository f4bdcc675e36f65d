import assert from 'node:assert/strict';
import { COMMANDS } from '../../cli/commands.js';

describe("cpectl's command table (loaded only when used)", () => {
  it('loads, for each name, the command of that name and summary', async () => {
    assert.ok(COMMANDS.length >= 13);
    for (const entry of COMMANDS) {
      const command = await entry.load();
      assert.deepEqual([command.name, command.summary], [entry.name, entry.summary]);
      assert.match(command.usage, new RegExp(`^usage: cpectl ${entry.name}\\b`));
    }
  });
});
