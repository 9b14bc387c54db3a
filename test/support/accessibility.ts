// axe-core in the console's browser tests (issue #16 item 7, every screen): no serious or critical
// violation on the page as it is. One copy for every browser test file.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core run on `page` (injected once per page): its serious and critical violations, named by `screen`, must be none. */
export async function accessible(page: Page, screen: string): Promise<void> {
  const found = (await page.evaluate(`(async () => {
    if (!window.axe) { ${axeSource}\n }
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', '));
  })()`)) as string[];
  expect({ screen, violations: found }).toEqual({ screen, violations: [] });
}
