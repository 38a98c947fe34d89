import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import * as ts from 'typescript';

/**
 * The layers, read from the imports themselves (issue 21): activities are factories over stores,
 * core and clients, never over each other; the core does no I/O. A folder's index.ts assembles
 * its activities and is the one file allowed to import them.
 */
const ROOT = resolve(__dirname, '../..');
const SRC = join(ROOT, 'src');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return filesUnder(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Every module a file imports or re-exports (`import type` included: a type import still ties the layers). */
function importsOf(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

/** A relative import as a path under src/ (`activities/migration/load`), or undefined for a package. */
function underSrc(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return relative(SRC, resolve(dirname(file), spec)).split(sep).join('/');
}

const inFolder = (path: string | undefined, folder: string) => path !== undefined && (path === folder || path.startsWith(`${folder}/`));

/** `activities/migration/load.ts imports ./stage`: each import of an activity file by another one. */
function activityImports(files: readonly string[]): string[] {
  return files
    .filter((f) => !f.endsWith(`${sep}index.ts`))
    .flatMap((f) =>
      importsOf(f)
        .filter((spec) => inFolder(underSrc(f, spec), 'activities'))
        .map((spec) => `${relative(SRC, f).split(sep).join('/')} imports ${spec}`),
    );
}

/** Packages and folders the pure core must not reach: databases, AWS, the activity runtime, the file system, and the I/O layers. */
const CORE_BANNED_PACKAGES = [/^knex(\/|$)/, /^pg(\/|$)/, /^@aws-sdk\//, /^@aws-crypto\//, /^@temporalio\/activity(\/|$)/, /^(node:)?fs(\/|$)/];
const CORE_BANNED_FOLDERS = ['activities', 'clients', 'stores'];

function coreIoImports(files: readonly string[]): string[] {
  return files.flatMap((f) =>
    importsOf(f)
      .filter((spec) => CORE_BANNED_PACKAGES.some((re) => re.test(spec)) || CORE_BANNED_FOLDERS.some((folder) => inFolder(underSrc(f, spec), folder)))
      .map((spec) => `${relative(SRC, f).split(sep).join('/')} imports ${spec}`),
  );
}

/** `src/x.ts:12` for every read of process.env outside src/config.ts (comments aside). */
function environmentReads(files: readonly string[]): string[] {
  return files
    .filter((f) => relative(SRC, f) !== 'config.ts')
    .flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((line, i) => (/\bprocess\.env\b/.test(line.replace(/\/\/.*$|^\s*\*.*$/, '')) ? [`${relative(SRC, f).split(sep).join('/')}:${i + 1}`] : [])),
    );
}

describe('layers', () => {
  it('nothing under src reads process.env but src/config.ts (the one environment reader)', () => {
    expect(environmentReads(filesUnder(SRC))).toEqual([]);
  });

  it('no file under src/activities imports another activity file (only a folder index assembles them)', () => {
    expect(activityImports(filesUnder(join(SRC, 'activities')))).toEqual([]);
  });

  it('no file under src/core imports I/O: knex, pg, @aws-sdk/*, @aws-crypto/*, @temporalio/activity, node:fs, or src/activities|clients|stores', () => {
    expect(coreIoImports(filesUnder(join(SRC, 'core')))).toEqual([]);
  });

  it('the checks see what they must refuse', () => {
    // A read of the environment in a file other than config.ts is found; a comment mentioning it is not.
    const scratch = mkdtempSync(join(tmpdir(), 'cutover-layers-'));
    const stray = join(scratch, 'env-read.ts');
    try {
      writeFileSync(stray, "// process.env is read in config.ts\nexport const level = process.env.CUTOVER_LOG_LEVEL;\n");
      expect(environmentReads([stray, join(SRC, 'config.ts')])).toEqual([expect.stringMatching(/env-read\.ts:2$/)]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    const dir = join(SRC, 'activities', 'migration');
    // The checks read files; these fixtures are the imports a break would add, seen through the same parser.
    const spec = (text: string) => ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
    expect(spec("import { a } from './stage';\nimport type { B } from '../../stores/manifest';\nexport * from './load';")).toEqual(['./stage', '../../stores/manifest', './load']);
    expect(inFolder(underSrc(join(dir, 'load.ts'), './stage'), 'activities')).toBe(true);
    expect(inFolder(underSrc(join(dir, 'load.ts'), '../../stores/staging'), 'activities')).toBe(false);
    expect(inFolder(underSrc(join(SRC, 'core', 'x.ts'), '../stores/errors'), 'stores')).toBe(true);
    for (const banned of ['knex', 'pg', '@aws-sdk/client-s3', '@aws-crypto/client-node', '@temporalio/activity', 'node:fs', 'fs/promises']) {
      expect(CORE_BANNED_PACKAGES.some((re) => re.test(banned))).toBe(true);
    }
    for (const allowed of ['node:crypto', 'node:net', 'pgoutput', '@temporalio/common', 'knexish']) {
      expect(CORE_BANNED_PACKAGES.some((re) => re.test(allowed))).toBe(false);
    }
  });
});
