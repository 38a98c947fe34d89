import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { installRuntime } from '../../src/clients/runtime';

/**
 * Workers are redeployed while migrations run for days: the new workflow code must replay the
 * histories the old code wrote. These fixtures are histories of real runs (recorded by
 * scripts/record-histories.ts, payloads decrypted); a change that breaks determinism makes the
 * replay below fail. Change behaviour behind `patched()` instead (README: "Deploying a new
 * worker while migrations run").
 */
const DIR = join(__dirname, '..', 'fixtures', 'histories');

interface Fixture {
  file: string;
  scenario: string;
  workflowId: string;
  runId: string;
  workflowType: string;
  history: { events: Record<string, unknown>[] };
}

function loadFixtures(): Fixture[] {
  return (readdirSync(DIR, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.json.gz'))
    .sort()
    .map((f) => ({ file: f, ...(JSON.parse(gunzipSync(readFileSync(join(DIR, f))).toString('utf8')) as Omit<Fixture, 'file'>) }));
}

const fixtures = loadFixtures();
// The replay worker logs each start and stop at INFO; a determinism violation comes back as a result.
installRuntime({ level: 'WARN' });
const has = (f: Fixture, attributes: string) => f.history.events.some((e) => e[attributes] !== undefined);
const inScenario = (name: string) => fixtures.filter((f) => f.scenario === name);

interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}

/** Every payload in a history (JSON form: metadata values and data in base64). */
function payloads(node: unknown, out: JsonPayload[] = []): JsonPayload[] {
  if (Array.isArray(node)) node.forEach((n) => payloads(n, out));
  else if (node && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    if (obj.metadata && typeof obj.metadata === 'object' && typeof obj.data === 'string') out.push(obj as unknown as JsonPayload);
    for (const value of Object.values(obj)) payloads(value, out);
  }
  return out;
}
const text = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

describe('recorded histories', () => {
  it('cover phases and a gate, partitions, continue-as-new, pause/resume/tune, rollbacks and a delta sync to its cutover, children included', () => {
    const scenarios = new Set(fixtures.map((f) => f.scenario));
    expect([...scenarios].sort()).toEqual(['abort-threshold', 'continue-as-new', 'gate-approved', 'partitions', 'pause-resume-tune', 'rollback-after-completion', 'rollback-at-gate', 'rollback-mid-load', 'sync-logical', 'sync-poll']);
    // A rollback after completion, its own workflow, in the order of the after-end-undo-order patch: the vault, then the staged objects.
    const after = inScenario('rollback-after-completion').find((f) => f.workflowType === 'rollbackCompleted')!;
    const undone = after.history.events.map((e) => (e as { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }).activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    expect(undone.filter((n) => n !== 'recordAudit')).toEqual(['fenceLoads', 'unloadEntity', 'purgeVault', 'deleteStaged', 'checksumTargets']);
    // The defect of issue 20, as the code before the rollback-decided-by-request patch ran it: a rollback
    // asked while rows load, then the migration failed on its runs' cancellation, no compensation scheduled.
    const midLoad = inScenario('rollback-mid-load').find((f) => f.workflowType === 'migrate')!;
    expect(has(midLoad, 'workflowExecutionSignaledEventAttributes') && has(midLoad, 'workflowExecutionFailedEventAttributes')).toBe(true);
    const scheduled = midLoad.history.events.map((e) => (e as { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }).activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    expect(scheduled).not.toContain('unloadEntity');
    // A sync: rounds that continue as new, and the cutover update.
    expect(inScenario('sync-poll').filter((f) => f.workflowType === 'migrate' && has(f, 'workflowExecutionContinuedAsNewEventAttributes')).length).toBeGreaterThanOrEqual(2);
    expect(inScenario('sync-poll').some((f) => has(f, 'workflowExecutionUpdateCompletedEventAttributes'))).toBe(true);
    // Cutovers of both kinds: the quiet period and every row compared (before the cutover-verifies-tail
    // patch), and the tail verified (after it).
    const finalSteps = inScenario('sync-poll').flatMap((f) => f.history.events.map((e) => (e as { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }).activityTaskScheduledEventAttributes?.activityType?.name));
    expect(finalSteps).toContain('verifyEntity');
    expect(finalSteps).toContain('verifyTail');
    // Rounds timed from round start (the sync-interval-from-round-start patch), and histories from before it.
    const patchesOf = (f: (typeof fixtures)[number]) =>
      f.history.events.flatMap((e) => ((e as { markerRecordedEventAttributes?: { details?: Record<string, { payloads?: { data: string }[] }> } }).markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? []).map((p) => text(p.data)));
    const marked = (f: (typeof fixtures)[number]) => patchesOf(f).some((t) => t.includes('sync-interval-from-round-start'));
    expect(inScenario('sync-poll').some(marked)).toBe(true);
    expect(inScenario('sync-poll').some((f) => f.workflowType === 'migrate' && !marked(f))).toBe(true);
    // Logical sync with the slot followed beside the rounds (the sync-follows-slot patch): the follower scheduled, then cancelled at the end.
    const logical = inScenario('sync-logical').filter((f) => f.workflowType === 'migrate');
    expect(logical.some((f) => patchesOf(f).some((t) => t.includes('sync-follows-slot')))).toBe(true);
    const logicalSteps = logical.flatMap((f) => f.history.events.map((e) => (e as { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }).activityTaskScheduledEventAttributes?.activityType?.name));
    expect(logicalSteps).toEqual(expect.arrayContaining(['followChanges', 'captureChanges', 'verifyTail', 'endCapture']));
    expect(logical.some((f) => has(f, 'activityTaskCancelRequestedEventAttributes'))).toBe(true);
    expect(inScenario('gate-approved').some((f) => has(f, 'workflowExecutionUpdateCompletedEventAttributes'))).toBe(true);
    expect(inScenario('partitions').filter((f) => /\/part-\d+$/.test(f.workflowId)).length).toBeGreaterThanOrEqual(2);
    expect(inScenario('continue-as-new').filter((f) => has(f, 'workflowExecutionContinuedAsNewEventAttributes')).length).toBeGreaterThanOrEqual(2);
    expect(inScenario('pause-resume-tune').filter((f) => has(f, 'workflowExecutionUpdateCompletedEventAttributes')).length).toBeGreaterThanOrEqual(1);
    expect(inScenario('rollback-at-gate').some((f) => has(f, 'workflowExecutionSignaledEventAttributes') && has(f, 'workflowExecutionFailedEventAttributes'))).toBe(true);
    expect(inScenario('abort-threshold').some((f) => f.workflowType === 'migrateEntity' && has(f, 'workflowExecutionFailedEventAttributes'))).toBe(true);
    for (const name of scenarios) expect(inScenario(name).some((f) => f.workflowType === 'migrateEntity')).toBe(true);
  });

  it('hold decrypted payloads (recorded through the codec), so they replay without a key', () => {
    const encodings = new Set(fixtures.flatMap((f) => payloads(f.history)).map((p) => text(p.metadata.encoding ?? '')));
    expect(encodings.has('json/plain')).toBe(true);
    expect(encodings.has('binary/encrypted')).toBe(false);
  });

  it('hold no personal data: no email address or phone number in any payload', () => {
    const texts = fixtures.flatMap((f) => payloads(f.history)).map((p) => text(p.data));
    expect(texts.length).toBeGreaterThan(100);
    // The payloads are decoded: the plan travels in the migration's input, readable.
    expect(texts.some((t) => t.includes('legacy_users'))).toBe(true);
    expect(texts.filter((t) => /[\w.+-]+@[\w-]+\.[a-z]{2,}/i.test(t))).toEqual([]);
    expect(texts.filter((t) => /\+1-555-\d{7}/.test(t))).toEqual([]);
  });

  it(
    "replay on today's workflow code without a determinism violation",
    async () => {
      const failures: string[] = [];
      let replayed = 0;
      const results = Worker.runReplayHistories(
        {
          workflowsPath: require.resolve('../../src/workflows'),
          // Failures are encoded as payloads in history (their message and stack): decode them the same way.
          dataConverter: { failureConverterPath: require.resolve('../../src/codec/failure-converter') },
          replayName: 'cutover-fixtures',
        },
        fixtures.map((f) => ({ workflowId: f.workflowId, history: historyFromJSON(f.history) })),
      );
      // One history at a time, in the order given: the n-th result is the n-th fixture's.
      for await (const r of results) {
        if (r.error) failures.push(`${fixtures[replayed]!.file}: ${r.error.name}: ${r.error.message}`);
        replayed++;
      }
      expect(failures).toEqual([]);
      expect(replayed).toBe(fixtures.length);
    },
    // The replayer bundles the workflows with webpack first (10-30 s on 2 cores).
    180_000,
  );
});
