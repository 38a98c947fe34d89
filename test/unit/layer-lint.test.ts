import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ESLint, type Linter } from 'eslint';

// The lint rules that hold the layers: prove each one fires on a deliberate break.
// The config is handed over directly: ESLint's own loader needs dynamic import, which jest lacks.
const root = join(__dirname, '..', '..');
const config: Linter.Config[] = require('../../eslint.config.js');
const eslint = new ESLint({ cwd: root, overrideConfigFile: true, overrideConfig: config });
const probe = (folder: string) => join(root, 'src', folder, 'lint-probe.ts');

async function ruleIds(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.map((m) => `${m.ruleId}:${m.line}${m.severity === 2 ? '' : ' (warning)'}`);
}

describe('src/core imports no I/O', () => {
  it.each([
    "import knex from 'knex';\nexport const x = knex;",
    "import { Client } from 'pg';\nexport const x = Client;",
    "import { S3Client } from '@aws-sdk/client-s3';\nexport const x = S3Client;",
    "import { KmsKeyringNode } from '@aws-crypto/client-node';\nexport const x = KmsKeyringNode;",
    "import { Context } from '@temporalio/activity';\nexport const x = Context;",
    "import { Client } from '@temporalio/client';\nexport const x = Client;",
    "import { Worker } from '@temporalio/worker';\nexport const x = Worker;",
    "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;",
    "import { readFileSync } from 'fs';\nexport const x = readFileSync;",
    "import { readFile } from 'node:fs/promises';\nexport const x = readFile;",
  ])('rejects %j in src/core', async (code) => {
    expect(await ruleIds(code, probe('core'))).toContain('no-restricted-imports:1');
  });

  it('accepts pure imports in src/core', async () => {
    const code = "import { createHash } from 'node:crypto';\nimport { ApplicationFailure } from '@temporalio/common';\nexport const x = [createHash, ApplicationFailure];\n";
    expect(await ruleIds(code, probe('core'))).toEqual([]);
  });

  it('allows the same imports outside src/core', async () => {
    expect(await ruleIds("import knex from 'knex';\nexport const x = knex;", probe('activities'))).toEqual([]);
  });
});

describe('no floating promises in src', () => {
  const save = 'async function save(): Promise<void> {}\n';

  it('rejects a promise nobody awaits', async () => {
    expect(await ruleIds(`${save}export function run(): void {\n  save();\n}\n`, probe('activities'))).toContain('@typescript-eslint/no-floating-promises:3');
  });

  it('accepts an awaited promise and a fire-and-forget marked with void', async () => {
    expect(await ruleIds(`${save}export async function run(): Promise<void> {\n  await save();\n  void save();\n}\n`, probe('activities'))).toEqual([]);
  });
});

describe('no import cycles in src', () => {
  // A cycle needs two files on disk: a scratch tree outside the repository, linted with the same
  // config minus typed linting (the project service only knows the repository's files).
  const scratch = mkdtempSync(join(tmpdir(), 'cutover-cycle-lint-'));
  const untyped = config.map((c) => (c.rules?.['@typescript-eslint/no-floating-promises'] ? { ...c, languageOptions: {}, rules: {} } : c));
  const scratchLint = new ESLint({ cwd: scratch, overrideConfigFile: true, overrideConfig: untyped });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  async function lint(files: Record<string, string>, target: string): Promise<string[]> {
    mkdirSync(join(scratch, 'src'), { recursive: true });
    for (const [name, code] of Object.entries(files)) writeFileSync(join(scratch, 'src', name), code);
    const [result] = await scratchLint.lintFiles([join(scratch, 'src', target)]);
    return result!.messages.map((m) => `${m.ruleId}:${m.line}${m.severity === 2 ? '' : ' (warning)'}`);
  }

  it('reports two modules that import each other', async () => {
    const ids = await lint({ 'a.ts': "import { b } from './b';\nexport const a = () => b;\n", 'b.ts': "import { a } from './a';\nexport const b = () => a;\n" }, 'a.ts');
    expect(ids).toContain('import-x/no-cycle:1');
  });

  it('accepts a type-only import back', async () => {
    const ids = await lint({ 'c.ts': "import { d } from './d';\nexport interface C { n: number }\nexport const c = () => d;\n", 'd.ts': "import type { C } from './c';\nexport const d = (x: C) => x.n;\n" }, 'c.ts');
    expect(ids).toEqual([]);
  });
});
