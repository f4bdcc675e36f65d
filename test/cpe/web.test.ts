/** The web view in a real headless Chromium, against a real CPE and DPE. */
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventBody } from '../../lib/bus/qmf.js';
import { Browser, chromiumMissing } from '../support/browser.js';
import { requireOrSkip } from '../support/bus.js';
import { simConfig, startLoop, type Loop } from '../support/dpe.js';
import { CpeClient } from '../support/cpe.js';

describe('the web view (headless Chromium, a real CPE)', function () {
  this.timeout(90_000);
  const name = 'webview';
  let loop: Loop | undefined;
  let browser: Browser | undefined;

  before(function () {
    requireOrSkip(this, 'Chromium', chromiumMissing());
  });
  after(async () => {
    await browser?.close();
    await loop?.close();
  });

  it('shows the deployables, and a new event appears without a reload', async () => {
    loop = await startLoop({
      name,
      agents: false,
      xml: (dir) => simConfig(name, join(dir, 'recover')),
      settings: (dir) => {
        const script = join(dir, 'recover');
        writeFileSync(script, '#!/bin/sh\nexit 0\n');
        chmodSync(script, 0o755);
        return { recovery: { commands: script } };
      },
    });
    browser = await Browser.open(`${loop.cpe.httpUrl}/`);
    await browser.until(
      `document.querySelector('.deployable[data-name="${name}"]') !== null`,
      30_000,
      'the deployable',
    );
    // Its assemblies once its DPE answers (the page refreshes on every event and every 5 s).
    await browser.until(
      `['a1', 'a2', 'a3', 'a4'].every((a) => [...document.querySelectorAll('.deployable[data-name="${name}"] td')].some((td) => td.textContent === a))`,
      30_000,
      'its assemblies',
    );
    // Events the log already had are listed; a marker tells a reload apart.
    await browser.until(
      "document.querySelectorAll('#events li').length > 0",
      10_000,
      'the stored events',
    );
    await browser.evaluate('window.__sameDocument = true');
    // Handed over as its DPE does: the CPE takes a DPE's events from that DPE only.
    const dpe = new CpeClient(loop.cpe.urlAs(`dpe.${name}`));
    await dpe.bus.whenUp(10_000);
    await dpe.call('events_submit', {
      source: `dpe.${name}`,
      events: [
        eventBody({
          name: 'notify',
          timestamp: Date.now(),
          severity: 'notice',
          values: {
            id: 'web-view-live',
            deployable: name,
            reason: 'seen live in the browser',
            event: 'test',
          },
        }),
      ],
    });
    await dpe.close();
    await browser.until(
      "document.getElementById('events').textContent.includes('seen live in the browser')",
      15_000,
      'the new event',
    );
    assert.equal(await browser.evaluate('window.__sameDocument'), true);
  });
});
