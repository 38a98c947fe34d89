import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeSafe, safeDbError } from '../../stores/errors';
import { assessPlan, type Assessment } from '../../assess/assess';
import { renderAssessmentHtml } from '../../assess/html';
import { createS3Client } from '../../clients/aws';
import { createDb } from '../../clients/postgres';
import { configuredUrls, loadConfig, planConnectionUrl, processEnv } from '../../config';
import { loadPlanFile } from '../../plan/load';
import { stackPaths } from '../../stack/state';
import { Command, EXIT, UsageError } from '../command';

/** Rows the pre-flight reads per entity unless told otherwise: a large source stays quick to assess. */
export const DEFAULT_PREFLIGHT_ROWS = 250_000;

/**
 * A database error without its message: PostgreSQL quotes the offending value there (`invalid
 * input syntax for type integer: "…"`), and the assessment reads personal data. Keeps the
 * SQLSTATE, table, column and constraint; any other error passes as it is (a refused
 * connection, an AWS error carry no row).
 */
export function withoutRowValues(err: unknown): never {
  const safe = safeDbError(err);
  if (safe) throw new Error(`the assessment stopped on a database error: ${describeSafe(safe)}`);
  throw err;
}

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} expects a positive whole number`);
  return n;
}

/** The lines a terminal shows: what fails --strict, what the run would quarantine, failed checks. */
export function assessmentSummary(a: Assessment): string {
  const lines = [`assessment of ${a.plan.name} (${a.plan.migrationId})`];
  const personal = a.tables.flatMap((t) => t.columns.filter((c) => c.findings.length).map((c) => ({ t, c })));
  lines.push(`  personal data: ${personal.length} column(s) in ${new Set(personal.map((p) => p.t.source)).size} table(s); highest risk ${Math.max(1, ...a.tables.map((t) => t.score))}`);
  for (const f of a.strict.failing) lines.push(`  UNPROTECTED ${f.source}.${f.column}: score ${f.score}, ${f.treatment.replace(/_/g, ' ')}${f.control ? ` — ${f.control}` : ''}`);
  const q = a.preflight.forecast.reduce((n, f) => n + f.quarantined, 0);
  lines.push(`  pre-flight: would quarantine ${q} row(s)${q ? `: ${Object.entries(a.preflight.byReason).map(([r, n]) => `${n} ${r}`).join(', ')}` : ''}`);
  for (const f of a.preflight.forecast.filter((x) => x.quarantined)) lines.push(`    ${f.entity}: ${f.reasons.map((r) => `${r.count} ${r.reason}${r.column || r.constraint ? ` (${[r.column, r.constraint].filter(Boolean).join(', ')})` : ''}`).join(', ')}`);
  const limited = a.preflight.forecast.filter((f) => f.limited);
  if (limited.length) lines.push(`  forecast of the first rows only (in key order) of ${limited.map((f) => `${f.entity} (${f.rowsRead})`).join(', ')}: --preflight-rows all reads every row`);
  if (a.preflight.abort) lines.push(`  the run would abort: ${a.preflight.abort}`);
  for (const c of a.preflight.checks.filter((x) => !x.ok)) lines.push(`  FAIL ${c.component}: ${c.check}: ${c.detail}`);
  return lines.join('\n');
}

export const assessCommand: Command = {
  usage: `cutover assess <plan.yaml> [--strict] [--threshold N] [--sample N] [--preflight-rows N|all] [--out DIR] [--json]

Assesses the plan before it runs, writing nothing anywhere but the report: reads the source
through the plan's source connection (read-only transactions), the target read-only, and
HEADs a sample of the objects file columns name.
  inventory     rows, bytes, growth (from change columns), largest values, files (count,
                estimated bytes, size classes, missing objects), read+map rate measured here
  personal data by column name and by sampling --sample rows per table (default 500):
                emails, phones, names, IP addresses, dates of birth, national ids, free text
                and JSON holding them; every column of the source schema, migrated or not
  risk          1-5 per column and table, from sensitivity x what the plan does with it
  pre-flight    the source role is read-only; the target takes the plan's columns; a sync
                source is ready; and the rows the run would quarantine, by reason, from every
                row up to --preflight-rows per entity (default 250000, in key order; all:
                every row; an entity read in part is marked so) through the run's own mapping
                and the target's types, NOT NULL and CHECK constraints
Writes <DIR>/<plan name>.assessment.html and .json (default DIR: .cutover/reports); no value of
any row is in either. --json prints the JSON instead of the summary.

Exit 1 when a pre-flight check fails (a missing table or column, a writable source role, a
sync source not ready), naming it. --strict: exit 1 too while any migrated column scores above
--threshold (default 3) and is left unprotected (copied in clear), naming each column and its
score. Otherwise exit 0; a forecast quarantine alone does not fail (the report shows it).`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { strict: { type: 'boolean', default: false }, threshold: { type: 'string' }, sample: { type: 'string' }, 'preflight-rows': { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean', default: false } },
      allowPositionals: true,
    });
    const [file] = positionals;
    if (!file) throw new UsageError('expected: cutover assess <plan.yaml>');
    const threshold = values.threshold === undefined ? undefined : Number(values.threshold);
    if (threshold !== undefined && !(Number.isInteger(threshold) && threshold >= 1 && threshold <= 5)) throw new UsageError('--threshold expects a whole number from 1 to 5');
    const plan = loadPlanFile(file);
    const config = loadConfig();
    const url = (envName: string, role: 'source' | 'target') => {
      const u = planConnectionUrl(envName, configuredUrls(config, role));
      if (!u) throw new UsageError(`the plan's connection ${envName} is not set in the environment`);
      return u;
    };
    const source = createDb(url(plan.source.urlEnv, 'source'), { max: 2, applicationName: 'cutover-assess', readOnly: true });
    const target = createDb(url(plan.target.urlEnv, 'target'), { max: 2, applicationName: 'cutover-assess', readOnly: true });
    const s3 = createS3Client(config.s3);
    try {
      const assessment = await assessPlan(plan, { source, target, s3 }, {
        now: new Date().toISOString(),
        threshold,
        sampleRows: positiveInt('sample', values.sample),
        preflightRows: values['preflight-rows'] === 'all' ? undefined : (positiveInt('preflight-rows', values['preflight-rows']) ?? DEFAULT_PREFLIGHT_ROWS),
        onProgress: values.json || !process.stderr.isTTY ? undefined : (what) => process.stderr.write(`\r\x1b[2K${what}`),
      }).catch(withoutRowValues);
      if (process.stderr.isTTY && !values.json) process.stderr.write('\r\x1b[2K');
      const dir = resolve(values.out ?? join(stackPaths(processEnv()).root, 'reports'));
      mkdirSync(dir, { recursive: true });
      const base = join(dir, `${plan.name}.assessment`);
      writeFileSync(`${base}.json`, `${JSON.stringify(assessment, null, 2)}\n`);
      writeFileSync(`${base}.html`, renderAssessmentHtml(assessment));
      if (values.json) console.log(JSON.stringify(assessment, null, 2));
      else console.log(`${assessmentSummary(assessment)}\n  report: ${base}.html\n          ${base}.json`);
      const failedChecks = assessment.preflight.checks.filter((c) => !c.ok);
      if (failedChecks.length) {
        console.error(`pre-flight: ${failedChecks.length} check(s) failed: ${failedChecks.map((c) => c.check).join('; ')}`);
        return EXIT.failed;
      }
      if (values.strict && assessment.strict.failing.length) {
        console.error(`--strict: ${assessment.strict.failing.length} column(s) score above ${assessment.strict.threshold} unprotected: ${assessment.strict.failing.map((f) => `${f.source}.${f.column} (score ${f.score})`).join(', ')}`);
        return EXIT.failed;
      }
      return EXIT.ok;
    } finally {
      s3.destroy();
      await Promise.all([source.destroy(), target.destroy()]);
    }
  },
};
