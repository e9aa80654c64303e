import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ATTRIBUTE, METRIC } from './telemetry-names';

const DOC = readFileSync(join(__dirname, '..', '..', 'docs', 'observability.md'), 'utf8');

/** The rows of the metrics table of docs/observability.md: name, instrument, unit, attributes. */
function documentedMetrics(): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of DOC.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const name = /^`(oidc_logout\.[a-z_.]+)`$/.exec(cells[1] ?? '')?.[1];
    if (name !== undefined) rows.set(name, cells.slice(2, -1));
  }
  return rows;
}

describe('the metrics table of docs/observability.md', () => {
  it('lists every metric the library records, and no other', () => {
    expect([...documentedMetrics().keys()].sort()).toEqual(Object.values(METRIC).sort());
  });

  it('names only attributes the library sets', () => {
    const known = new Set<string>(Object.values(ATTRIBUTE));
    for (const [name, [, , attributes = '']] of documentedMetrics()) {
      for (const [, attribute = ''] of attributes.matchAll(/`([a-z_.]+)`/g)) {
        if (attribute.startsWith('oidc_logout.') || attribute === 'error.type') {
          expect(known.has(attribute), `${name}: ${attribute}`).toBe(true);
        }
      }
    }
  });
});
