import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../../src/cli/main';

const ROOT = join(__dirname, '..', '..');

describe('cutover demo seed: where it writes is documented', () => {
  // The variables `demo seed` reads, found in its source (config.ts reads the environment: the
  // seed's are in demoSeedUrls), so a new one cannot go undocumented.
  const config = readFileSync(join(ROOT, 'src', 'config.ts'), 'utf8');
  const seedUrls = config.slice(config.indexOf('export function demoSeedUrls('), config.indexOf('\n}\n', config.indexOf('export function demoSeedUrls(')));
  const read = [...new Set([...seedUrls.matchAll(/\benv\.([A-Z0-9_]+)/g)].map((m) => m[1]!))];

  it('reads CUTOVER_SOURCE_ADMIN_URL (the source to seed) and CUTOVER_TARGET_URL', () => {
    expect(read.sort()).toEqual(['CUTOVER_SOURCE_ADMIN_URL', 'CUTOVER_TARGET_URL']);
  });

  it.each(['CUTOVER_SOURCE_ADMIN_URL', 'CUTOVER_TARGET_URL'])('`cutover demo --help` and the README name %s', (name) => {
    const demo = COMMANDS.find((c) => c.name === 'demo')!.load();
    expect(demo.usage).toContain(name);
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain(name);
  });

  it('the README says how to seed the stack\'s logical PostgreSQL with it', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toMatch(/CUTOVER_SOURCE_ADMIN_URL=\S*5433\S* npx cutover demo seed/);
  });
});
