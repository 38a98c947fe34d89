import { ApplicationFailure, proxyActivities, RetryPolicy, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { quarantineAbortReason } from '../core/abort';
import { emptyProgress, EntityProgress, KeyRange, MigrationInput, MigrationReport, RangePage } from '../shared/migration';
import { progressQuery } from '../shared/queries';
import { inLanes } from './pool';

const NON_RETRYABLE = ['IntegrityError', 'PlanMismatch', 'SourceWritable', 'AbortThresholdExceeded'];
const retry: RetryPolicy = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE };

// Preparing reads catalogs and counts rows: minutes on a large source.
const { prepareMigration } = proxyActivities<Activities>({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '2 minutes', retry });
// Planning walks the key index a page at a time and heartbeats its cursor.
const { planRanges } = proxyActivities<Activities>({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '1 minute', retry });
// A batch is at most 100k rows; its activities heartbeat every 5 s, so a killed worker's
// batch is retried elsewhere after 30 s instead of after the whole start-to-close timeout.
const { stageBatch, loadBatch, reconcileBatch } = proxyActivities<Activities>({ startToCloseTimeout: '20 minutes', heartbeatTimeout: '30 seconds', retry });

const RANGES_PER_PAGE = 500;

/**
 * One migration: prepare, then for each entity in plan order, split the source into keyset
 * ranges and run stage → load → reconcile per range, `parallelism` ranges at a time.
 * Passes references only; every row stays in the activities, S3 (encrypted) and the databases.
 */
export async function migrate(input: MigrationInput): Promise<MigrationReport> {
  const { plan, migrationId } = input;
  const report: MigrationReport = { migrationId, planHash: input.planHash, status: 'running', entities: [], clean: true };
  setHandler(progressQuery, () => report);
  // Stable across retries of the workflow task and (later) continue-as-new.
  const runId = workflowInfo().firstExecutionRunId;

  const prepared = await prepareMigration(input);
  report.entities = prepared.entities.map((e) => emptyProgress(e.name, e.sourceRows));

  for (const entity of plan.entities) {
    const progress = report.entities.find((p) => p.entity === entity.name)!;
    const ranges: KeyRange[] = [];
    for (let after: string | null = null; ; ) {
      const page: RangePage = await planRanges({ migrationId, entity: entity.name, after, maxRanges: RANGES_PER_PAGE });
      ranges.push(...page.ranges);
      if (page.done) break;
      after = page.next;
    }
    progress.batches = ranges.length;

    let abortReason: string | undefined;
    const lanes = plan.settings.parallelism;
    await inLanes(ranges, lanes, async (range) => {
      if (abortReason) return; // stop taking new batches; in-flight ones finish
      const staged = await stageBatch({ migrationId, entity: entity.name, ...range });
      const loaded = await loadBatch({ migrationId, entity: entity.name, batchId: staged.batchId, runId });
      const checked = await reconcileBatch({ migrationId, entity: entity.name, batchId: staged.batchId });
      record(progress, staged.extracted, staged.quarantined, loaded, checked);
      if (!checked.clean) report.clean = false;
      abortReason ??= quarantineAbortReason({ entity: entity.name, processed: progress.extracted, quarantined: progress.quarantined }, plan.settings.abort.maxQuarantineRatio);
      if (plan.settings.throttleRowsPerSecond > 0) {
        // Each lane gets its share of the rate: pause as long as this batch's share of a second.
        await sleep(Math.ceil((staged.extracted * lanes * 1000) / plan.settings.throttleRowsPerSecond));
      }
    });
    if (abortReason) {
      report.status = 'failed';
      throw ApplicationFailure.create({ message: abortReason, type: 'AbortThresholdExceeded', nonRetryable: true, details: [report] });
    }
    const r = progress.reconcile;
    if (r.missing || r.mismatched || r.duplicated || r.found !== r.expected) {
      report.status = 'failed';
      throw ApplicationFailure.create({
        message: `${entity.name}: reconcile found ${r.missing} missing, ${r.mismatched} mismatched, ${r.duplicated} duplicated of ${r.expected} expected rows`,
        type: 'ReconcileMismatch',
        nonRetryable: true,
        details: [report],
      });
    }
  }
  report.status = 'completed';
  return report;
}

function record(p: EntityProgress, extracted: number, stageQuarantined: number, loaded: { inserted: number; updated: number; unchanged: number; quarantined: number }, checked: { expected: number; found: number; missing: number; mismatched: number; duplicated: number; sampleMissing: string[]; sampleMismatched: string[] }): void {
  p.batchesDone++;
  p.extracted += extracted;
  p.inserted += loaded.inserted;
  p.updated += loaded.updated;
  p.unchanged += loaded.unchanged;
  p.quarantined += stageQuarantined + loaded.quarantined;
  const r = p.reconcile;
  r.expected += checked.expected;
  r.found += checked.found;
  r.missing += checked.missing;
  r.mismatched += checked.mismatched;
  r.duplicated += checked.duplicated;
  r.sampleMissing = [...r.sampleMissing, ...checked.sampleMissing].slice(0, 10);
  r.sampleMismatched = [...r.sampleMismatched, ...checked.sampleMismatched].slice(0, 10);
}
