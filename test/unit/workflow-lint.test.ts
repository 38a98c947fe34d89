import { join } from 'node:path';
import { ESLint } from 'eslint';

// The lint rule that keeps workflow code deterministic: prove it fires.
// The config is handed over directly: ESLint's own loader needs dynamic import, which jest lacks.
const eslint = new ESLint({ cwd: join(__dirname, '..', '..'), overrideConfigFile: true, overrideConfig: require('../../eslint.config.js') });
const workflowFile = join(__dirname, '..', '..', 'src', 'workflows', 'lint-probe.ts');

async function ruleIds(code: string, filePath = workflowFile): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.map((m) => `${m.ruleId}:${m.line}`);
}

describe('workflow lint', () => {
  it.each([
    ["import { Client } from 'pg';\nexport const x = Client;", 'no-restricted-imports:1'],
    ["import knex from 'knex';\nexport const x = knex;", 'no-restricted-imports:1'],
    ["import { readFileSync } from 'node:fs';\nexport const x = readFileSync;", 'no-restricted-imports:1'],
    ["import { readFileSync } from 'fs';\nexport const x = readFileSync;", 'no-restricted-imports:1'],
    ["import { S3Client } from '@aws-sdk/client-s3';\nexport const x = S3Client;", 'no-restricted-imports:1'],
    ["import { createActivities } from '../activities';\nexport const x = createActivities;", 'no-restricted-imports:1'],
    ['export const now = () => Date.now();', 'no-restricted-globals:1'],
    ['export const r = () => Math.random();', 'no-restricted-properties:1'],
  ])('rejects %j in a workflow file', async (code, expected) => {
    expect(await ruleIds(code)).toContain(expected);
  });

  it('accepts type-only activity imports and the workflow API', async () => {
    const code = "import { proxyActivities } from '@temporalio/workflow';\nimport type { Activities } from '../activities';\nexport const a = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });\n";
    expect(await ruleIds(code)).toEqual([]);
  });

  it('allows the same imports outside workflow files', async () => {
    expect(await ruleIds("import { Client } from 'pg';\nexport const x = Client;", join(__dirname, '..', '..', 'src', 'activities', 'lint-probe.ts'))).toEqual([]);
  });
});
