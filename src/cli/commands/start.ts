import { skippedText } from '../../shared/progress';
import { parseArgs } from 'node:util';
import { configuredUrls, CutoverConfig, loadConfig, planConnectionUrl } from '../../config';
import { startMigration, waitForMigration } from '../../migration-client';
import { migrationId } from '../../plan/hash';
import { loadPlanFile } from '../../plan/load';
import { DEFAULT_SANDBOX_ENV, describeDatabase, detokenizedColumns, fileColumns, rehearsalPlan, sameDatabase } from '../../plan/rehearsal';
import type { Plan } from '../../plan/types';
import { headline, rehearsalText } from '../../report/headline';
import type { MigrationReport } from '../../shared/migration';
import { Command, EXIT, UsageError } from '../command';
import { leftBehindLines } from '../status-view';

export function summarize(report: MigrationReport): string {
  const lines = [`migration ${report.migrationId}: ${headline(report)}`];
  for (const e of report.entities) {
    const r = e.reconcile;
    lines.push(
      `  ${e.entity}: ${e.extracted} extracted, ${e.inserted} inserted, ${e.updated} updated, ${e.unchanged} unchanged, ${e.quarantined} quarantined${skippedText(e) ? `, ${skippedText(e)}` : ''}; ` +
        `reconcile ${r.found}/${r.expected} found, ${r.missing} missing, ${r.mismatched} mismatched (${e.batchesDone}/${e.batches} batches)`,
    );
  }
  if (report.rollback && !report.rollback.blocked) lines.push(`  rollback: ${report.rollback.reason}`);
  return lines.join('\n');
}

/** The line `start --wait` prints when the migration reaches a gate: what to run, and who may. */
export function gateLine(plan: Plan, report: MigrationReport): string | undefined {
  if (report.status !== 'awaiting-approval' || !report.phase) return undefined;
  const gate = plan.phases.find((p) => p.name === report.phase)?.gate;
  const second = gate?.distinctApprover ? ` (a second person: not ${report.startedBy})` : '';
  return `waiting at the gate of phase ${report.phase}: approve with \`cutover approve ${report.migrationId} ${report.phase}\`${second}, or refuse with --reject`;
}

/** The line that says a migration is a rehearsal and what that means for its target. */
export function rehearsalLine(plan: Plan): string | undefined {
  return plan.rehearsal ? `${rehearsalText(plan.rehearsal)}, no delta sync; \`cutover rehearsal purge\` removes it afterwards` : undefined;
}

/** The connection string an env var names here, as the worker resolves it (the stack's target for CUTOVER_TARGET_URL). */
function urlOf(config: CutoverConfig, env: string): string | undefined {
  return planConnectionUrl(env, configuredUrls(config, 'source', 'target', 'control'));
}

/**
 * The rehearsal of `plan` into the sandbox `sandboxEnv` names, after checking the sandbox: set,
 * readable, and not the real target (nor the source or the control database). Every refusal is
 * a usage error (exit 2) naming the variables and databases, never a URL.
 */
export function checkedRehearsal(config: CutoverConfig, plan: Plan, sandboxEnv: string): Plan {
  let rehearsal: Plan;
  try {
    rehearsal = rehearsalPlan(plan, sandboxEnv);
  } catch (err) {
    throw new UsageError(`--rehearsal: ${(err as Error).message}`);
  }
  const other = sandboxEnv === DEFAULT_SANDBOX_ENV ? ' (or name another variable with --sandbox-env)' : '';
  const sandbox = planConnectionUrl(sandboxEnv);
  if (!sandbox) throw new UsageError(`--rehearsal: ${sandboxEnv} is not set: set it${other} to the URL of the sandbox database, a database of its own with the target's schema, here and in the worker's environment`);
  const real = urlOf(config, plan.target.urlEnv);
  if (!real) throw new UsageError(`--rehearsal: the plan's target variable ${plan.target.urlEnv} is not set here, so the sandbox ${sandboxEnv} cannot be checked against it: set both`);
  for (const [what, env, url] of [
    ["the plan's target", plan.target.urlEnv, real],
    ["the plan's source", plan.source.urlEnv, urlOf(config, plan.source.urlEnv)],
    ['the control database', 'CUTOVER_CONTROL_URL', config.databases.controlUrl],
  ] as const) {
    if (!url) continue;
    const same = sameDatabase(sandbox, url);
    if (same === undefined) throw new UsageError(`--rehearsal: cannot tell which database ${sandboxEnv} or ${env} names (expected postgres://… or key=value): refusing to rehearse into what may be ${what}`);
    if (same) throw new UsageError(`--rehearsal: ${sandboxEnv} names the same database as ${what} ${env} (${describeDatabase(sandbox)}): a rehearsal needs a sandbox database of its own`);
  }
  // The derivation is tested; this is the last look before anything starts.
  const clear = detokenizedColumns(rehearsal);
  if (clear.length || fileColumns(rehearsal).length || rehearsal.sync) throw new Error(`internal error: the rehearsal plan is not masked (${[...clear, ...fileColumns(rehearsal)].join(', ') || 'sync'}): nothing started`);
  return rehearsal;
}

export const startCommand: Command = {
  usage: `cutover start <plan.yaml> [--wait] [--json] [--started-by NAME] [--rehearsal [--sandbox-env NAME]]

The plan is validated first; an invalid plan starts nothing (exit 2). The migration id is
the plan's name and hash: starting the same plan again re-runs it and changes nothing that
is already right. Prints the migration id and its Web UI link at once. --wait then follows
it (every 3 s; it says when the migration waits at a gate and how to approve it) and prints
the per-entity counts at the end with the status \`status\` and \`list\` show: exit 0 when it
completed, 1 when it rolled back, failed, was cancelled, terminated or timed out (those say
what they left in the target and that \`cutover rollback <id>\` undoes it).

--rehearsal runs the plan once into a masked sandbox instead of its target: the database
named by ${DEFAULT_SANDBOX_ENV} (--sandbox-env NAME: another variable), set here and in
the worker's environment, with the target's schema. Its plan is derived from this one: named
<name>-rehearsal (its own migration id, ledger, batches and staged objects), every personal
column and JSON path the plan would detokenize keeps its token instead (nothing is ever
detokenized into the sandbox; drop stays drop), file columns keep the object key and copy
no object (files such as certificates hold personal data no token masks), no delta sync.
Phases and gates are as planned. Refused (exit 2) when the variable is unset or names the
plan's target (or source, or control) database: host, port and database compared.
\`cutover rehearsal purge <id>\` removes a finished rehearsal's vault entries, staged objects
and control rows.`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: {
        wait: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        'started-by': { type: 'string' },
        rehearsal: { type: 'boolean', default: false },
        'sandbox-env': { type: 'string' },
      },
      allowPositionals: true,
    });
    const [file] = positionals;
    if (!file) throw new UsageError('expected: cutover start <plan.yaml>');
    if (values['sandbox-env'] !== undefined && !values.rehearsal) throw new UsageError('--sandbox-env names the sandbox of a rehearsal: add --rehearsal');
    const config = loadConfig();
    const real = loadPlanFile(file);
    const plan = values.rehearsal ? checkedRehearsal(config, real, values['sandbox-env'] ?? DEFAULT_SANDBOX_ENV) : real;
    const rehearsing = rehearsalLine(plan);
    if (rehearsing && !values.json) console.log(rehearsing);
    const started = await startMigration(config, plan, { startedBy: values['started-by'] });
    if (!values.json) {
      console.log(`migration id: ${started.migrationId}${plan.rehearsal ? ` (rehearsal; the real migration is ${migrationId(real)})` : ''}`);
      console.log(`workflow id:  ${started.workflowId}`);
      console.log(`Web UI:       ${started.url}`);
    }
    const rehearsal = plan.rehearsal ? { rehearsal: plan.rehearsal } : {};
    if (!values.wait) {
      if (values.json) console.log(JSON.stringify({ ...started, ...rehearsal }, null, 2));
      return EXIT.ok;
    }
    const announced = new Set<string>();
    const view = await waitForMigration(config, started.workflowId, (report) => {
      const line = gateLine(plan, report);
      if (line && !announced.has(report.phase!)) {
        announced.add(report.phase!);
        if (!values.json) console.log(line);
      }
    });
    const ok = view.execution === 'COMPLETED' && view.report?.status === 'completed';
    if (values.json) console.log(JSON.stringify({ ...started, ...rehearsal, report: view.report, status: view.status, execution: view.execution, failure: view.failure, leftBehind: view.leftBehind, missing: view.missing }, null, 2));
    else {
      console.log(view.report ? `\n${summarize(view.report)}` : `\nmigration ${started.migrationId}: ${view.status}`);
      if (rehearsing) console.log(`  ${rehearsing}`);
      if (view.failure && !ok) console.log(`  ${view.failure}`);
      for (const line of leftBehindLines(view)) console.log(`  ${line}`);
      for (const m of view.missing ?? []) console.log(`  missing: ${m}`);
      if (view.note) console.log(`  note: ${view.note}`);
    }
    return ok ? EXIT.ok : EXIT.failed;
  },
};
