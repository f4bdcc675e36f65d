import assert from 'node:assert/strict';
import { Invalid } from '../../../lib/config/values.js';
import { RULE_LIMITS, parseRule } from '../../../lib/config/rules.js';

const leaf = { fact: 'assembly', path: '$.metrics.load1', operator: 'greaterThan', value: 4 };
const rule = (conditions: unknown, event: unknown = { type: 'notify' }): string =>
  JSON.stringify({ conditions, event });
const reason = (text: string): string => {
  const r = parseRule(text);
  return r instanceof Invalid ? r.reason : 'accepted';
};

describe('custom rule checks', () => {
  it('accepts all/any/not trees of built-in operators and fact references', () => {
    const ok = parseRule(
      rule(
        {
          any: [
            {
              all: [
                leaf,
                {
                  fact: 'service',
                  path: '$.failures[0]',
                  operator: 'lessThan',
                  value: { fact: 'now' },
                },
              ],
            },
            { not: { fact: 'assembly', operator: 'in', value: ['a', 'b'] } },
          ],
        },
        { type: 'veto', params: { action: 'start' } },
      ),
    );
    assert.ok(!(ok instanceof Invalid), ok instanceof Invalid ? ok.reason : '');
  });

  it('refuses what is not a rule', () => {
    assert.match(reason('[]'), /JSON object/);
    assert.match(reason(rule(leaf)), /starts with "all", "any" or "not"/);
    assert.match(
      reason(JSON.stringify({ conditions: { all: [leaf] }, event: { type: 'x' }, name: 'n' })),
      /unknown key "name"/,
    );
    assert.match(reason(rule({ all: [] })), /non-empty array/);
    assert.match(
      reason(rule({ all: [{ ...leaf, operator: 'regex' }] })),
      /"operator" must be one of/,
    );
    assert.match(
      reason(rule({ all: [{ fact: 'service', operator: 'equal' }] })),
      /"value" is missing/,
    );
    assert.match(
      reason(rule({ all: [{ fact: 'process', operator: 'equal', value: 1 }] })),
      /"fact" must be one of situation, service, assembly, deployable, now/,
    );
    assert.match(
      reason(rule({ all: [leaf] }, { type: 'shutdown' })),
      /event: "type" must be one of/,
    );
    assert.match(
      reason(rule({ all: [leaf] }, { type: 'veto', params: { action: 'reboot' } })),
      /veto "action" must be an action type/,
    );
    assert.match(
      reason(rule({ all: [leaf] }, { type: 'prioritize', params: { priority: 500 } })),
      /"priority" must be a whole number from 1 to 100/,
    );
    assert.match(
      reason(rule({ all: [leaf] }, { type: 'notify', params: { event: 'x', command: 'rm' } })),
      /"notify" takes params event, reason, not "command"/,
    );
    assert.match(reason(rule({ all: [{ condition: 'shared' }] })), /shared conditions/);
    assert.match(reason(rule({ all: [leaf] }, { type: 'bad type!' })), /event: "type"/);
    assert.match(reason(rule({ all: [leaf] }, { type: 'x', code: 'y' })), /event: unknown key/);
  });

  it('allows only plain paths', () => {
    for (const path of [
      '$..x',
      '$.a[?(@.b)]',
      '$["a"]',
      'a.b',
      '$.a.constructor.constructor("x")()',
      '$.' + 'a.'.repeat(9) + 'a',
    ]) {
      assert.notEqual(reason(rule({ all: [{ ...leaf, path }] })), 'accepted', path);
    }
  });

  it('bounds depth, condition count and size', () => {
    let deep: unknown = leaf;
    for (let i = 0; i < RULE_LIMITS.maxDepth; i++) deep = { all: [deep] };
    assert.match(reason(rule(deep)), /deeper than/);
    const many = { all: Array.from({ length: RULE_LIMITS.maxConditions + 1 }, () => leaf) };
    assert.match(reason(rule(many)), /more than 64 conditions/);
    assert.match(
      reason(rule({ all: [{ ...leaf, value: 'x'.repeat(RULE_LIMITS.maxBytes) }] })),
      /over 65536 bytes/,
    );
  });

  it('refuses prototype keys anywhere', () => {
    assert.match(
      reason(
        '{"conditions":{"all":[{"fact":"service","operator":"equal","value":{"constructor":1}}]},"event":{"type":"notify"}}',
      ),
      /"constructor" is not allowed/,
    );
    assert.match(
      reason('{"__proto__":{},"conditions":{"all":[]},"event":{"type":"x"}}'),
      /"__proto__" is not allowed/,
    );
  });
});
