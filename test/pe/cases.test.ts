import assert from 'node:assert/strict';
import { expected, lineDiff, listCases, runCase } from './case-runner.js';

describe('policy engine regression cases', () => {
  const names = listCases();

  it('has at least 60 cases', () => {
    assert.ok(names.length >= 60, `only ${names.length}`);
  });

  for (const name of names) {
    it(name, async () => {
      const want = expected(name);
      assert.ok(
        want,
        `no expected plan: run npm run pe:cases -- --run ${name} --update, then review it`,
      );
      const got = await runCase(name);
      const hint = `plan differs (npm run pe:cases -- --run ${name} shows it):\n${lineDiff(want.text, got.text)}`;
      assert.equal(got.text, want.text, hint);
      assert.equal(got.json, want.json, `JSON differs:\n${lineDiff(want.json, got.json)}`);
    });
  }
});
