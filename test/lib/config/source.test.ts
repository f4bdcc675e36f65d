import assert from 'node:assert/strict';
import { MAX_ISSUES, parseDeployableConfig } from '../../../lib/config/index.js';

const minimal =
  '<deployable name="x" uuid="1"><assemblies><assembly name="a" uuid="a"/></assemblies></deployable>';

async function codes(input: string | Uint8Array, maxBytes?: number): Promise<string[]> {
  const result = await parseDeployableConfig(input, maxBytes === undefined ? {} : { maxBytes });
  return result.ok ? [] : result.issues.map((i) => i.code);
}

describe('config input screening', () => {
  it('accepts a UTF-8 byte-order mark', async () => {
    assert.deepEqual(
      await codes(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(minimal)])),
      [],
    );
  });

  it('refuses UTF-16 with a clear message', async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(minimal, 'utf16le')]);
    assert.deepEqual(await codes(utf16), ['CONFIG_BAD_ENCODING']);
  });

  it('refuses a config one byte over the limit, and accepts one at it', async () => {
    const size = Buffer.byteLength(minimal);
    assert.deepEqual(await codes(minimal, size), []);
    assert.deepEqual(await codes(minimal, size - 1), ['CONFIG_TOO_LARGE']);
  });

  it('refuses a DOCTYPE hidden after comments and processing instructions', async () => {
    const xml = `<?xml version="1.0"?>\n<!-- a -->\n<?pi x?>\n<!DOCTYPE deployable SYSTEM "http://127.0.0.1:1/x.dtd">\n${minimal}`;
    const result = await parseDeployableConfig(xml);
    assert.ok(!result.ok);
    assert.deepEqual(
      result.issues.map((i) => [i.code, i.line]),
      [['CONFIG_DOCTYPE', 4]],
    );
  });

  it('reads entity and character references in values', async () => {
    const xml = minimal.replace(
      '<assembly name="a" uuid="a"/>',
      '<assembly name="a" uuid="a"><services><service name="s" class="lsb" type="t"><parameters>' +
        '<parameter name="p" value="&lt;&amp;&#65;&#x42;&quot;"/></parameters></service></services></assembly>',
    );
    const result = await parseDeployableConfig(xml);
    assert.ok(result.ok);
    assert.deepEqual(result.config.services[0]?.parameters[0]?.source, {
      kind: 'value',
      value: '<&AB"',
    });
  });

  it(`lists at most ${MAX_ISSUES} problems, then counts the rest`, async () => {
    const attrs = Array.from({ length: 500 }, (_, i) => `junk${i}="1"`).join(' ');
    const result = await parseDeployableConfig(minimal.replace('uuid="a"', `uuid="a" ${attrs}`));
    assert.ok(!result.ok);
    assert.equal(result.issues.length, MAX_ISSUES + 1);
    assert.equal(result.issues.at(-1)?.code, 'CONFIG_TOO_MANY_ISSUES');
    assert.match(result.issues.at(-1)!.message, /^400 more problems/);
  });

  it('handles a config at the 4 MiB limit without hanging', async function () {
    this.timeout(60_000);
    const service = (i: number): string =>
      `<service name="s${i}" class="systemd" type="unit${i}.service" monitor_interval="10s"/>\n`;
    const parts: string[] = [];
    let size = 0;
    for (let a = 0; size < 3.9 * 1024 * 1024; a++) {
      let block = `<assembly name="a${a}" uuid="u${a}"><services>\n`;
      for (let s = 0; s < 10; s++) block += service(s);
      block += '</services></assembly>\n';
      parts.push(block);
      size += block.length;
    }
    const xml = `<deployable name="big" uuid="1"><assemblies>\n${parts.join('')}</assemblies></deployable>`;
    const result = await parseDeployableConfig(xml);
    assert.ok(result.ok, result.ok ? '' : result.issues[0]?.message);
    assert.equal(result.config.services.length, parts.length * 10);
  });

  it('never throws on arbitrary bytes', async () => {
    let seed = 42;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const alphabet = '<>/="\' \n&;!?[]-abcdeflmnostuvy';
    for (let n = 0; n < 200; n++) {
      const base = random() < 0.5 ? minimal : '';
      const chars = Array.from(
        { length: 1 + Math.floor(random() * 80) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      );
      const cut = Math.floor(random() * base.length);
      const input = base.slice(0, cut) + chars.join('') + base.slice(cut);
      const result = await parseDeployableConfig(input);
      if (!result.ok)
        for (const i of result.issues) assert.ok(i.code.startsWith('CONFIG_'), i.code);
    }
  });
});
