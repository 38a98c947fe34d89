/**
 * What every view of a migration says — `status --json`, `list --json`, `list --status`,
 * `report --json` and, given its workflow id, the Web UI's search attribute — so a test can
 * require them all to tell the same truth (rollback-matrix, migration-ends).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectClient } from '../../src/clients/temporal';
import { CUTOVER_STATUS } from '../../src/shared/search-attributes';
import { cli, cliEnv, Isolated } from './helpers';

/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI's JSON, read as the operator's scripts read it */
export interface MigrationViews {
  status: string | undefined;
  statusExit: number;
  /** `status --json` whole. */
  view: any;
  /** The statuses `list --json` shows for the migration (one row per migration: one status). */
  list: string[];
  listing: any;
  /** Whether `list --status <expected>` lists it. */
  listedAs: boolean;
  report: string | undefined;
  reportExit: number;
  /** `report --json` whole. */
  data: any;
  /** The CutoverStatus search attribute of the given workflow, when one was given. */
  attribute?: unknown;
}

const parse = (stdout: string, stderr: string): any => {
  try {
    return JSON.parse(stdout);
  } catch {
    return { unparsed: `${stdout.slice(0, 300)}\n${stderr.slice(0, 300)}` };
  }
};

export async function migrationViews(env: Isolated, migrationId: string, expected: string, workflowId?: string): Promise<MigrationViews> {
  const e = cliEnv(env);
  const status = await cli(['status', migrationId, '--json'], e);
  const list = await cli(['list', '--json', '--limit', '200'], e);
  const filtered = await cli(['list', '--status', expected, '--json', '--limit', '200'], e);
  const dir = mkdtempSync(join(tmpdir(), 'cutover-views-'));
  const report = await cli(['report', migrationId, '--json', '--out', dir], e);
  rmSync(dir, { recursive: true, force: true });
  const rows = (parse(list.stdout, list.stderr) as { migrationId: string; status?: string }[]).filter?.((r) => r.migrationId === migrationId) ?? [];
  let attribute: unknown;
  if (workflowId) {
    const { client, connection } = await connectClient(env.config);
    try {
      attribute = (await client.workflow.getHandle(workflowId).describe()).typedSearchAttributes.get(CUTOVER_STATUS);
    } finally {
      await connection.close();
    }
  }
  const view = parse(status.stdout, status.stderr);
  const data = parse(report.stdout, report.stderr);
  return {
    status: view.status,
    statusExit: status.code,
    view,
    list: rows.map((r) => r.status!),
    listing: rows[0],
    listedAs: ((parse(filtered.stdout, filtered.stderr) as { migrationId: string }[]).some?.((r) => r.migrationId === migrationId)) ?? false,
    report: data.report?.status,
    reportExit: report.code,
    data,
    ...(workflowId ? { attribute } : {}),
  };
}

/** The part of the views that must agree. */
export const agreement = (v: MigrationViews) => ({ status: v.status, list: v.list, listedAs: v.listedAs, report: v.report, reportExit: v.reportExit, ...('attribute' in v ? { attribute: v.attribute } : {}) });

/** Every view saying `expected` (the search attribute too, when `attribute`). */
export const everyViewSays = (expected: string, attribute = false) => ({ status: expected, list: [expected], listedAs: true, report: expected, reportExit: 0, ...(attribute ? { attribute: expected } : {}) });
