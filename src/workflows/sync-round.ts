import { phaseLevels } from '../plan/order';
import type { Plan } from '../plan/types';
import type { CapturedRound, SyncReport } from '../shared/migration';
import { thousands } from '../shared/progress';
import { batchWaitingOnCancel as batch } from './proxies';

/** What one applied round did, for the report. */
export interface RoundResult {
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  quarantined: number;
  conflicts: number;
  clean: boolean;
}

/**
 * Applies one captured round (workflow code: deterministic, references only): each entity's
 * changed keys are staged in parts, as the source holds them now; upserts load parents before
 * children (the plan's levels), then deletes children before parents; every batch is reconciled
 * against its manifest. Idempotent: a retried round finds its batches staged and loaded.
 */
export async function applyRound(plan: Plan, migrationId: string, runId: string, captured: CapturedRound): Promise<RoundResult> {
  const round = captured.round;
  const parts = captured.entities.flatMap((e) => Array.from({ length: Math.ceil(e.keys / e.batchSize) }, (_, part) => ({ entity: e.entity, part })));
  const staged = await Promise.all(
    parts.map((p) =>
      batch.stageChanges.executeWithOptions({ summary: `sync round ${round}: ${p.entity} part ${p.part + 1}: read, tokenize and stage the changed rows` }, [{ migrationId, entity: p.entity, round, part: p.part, runId }]),
    ),
  );
  const levels = plan.phases.flatMap((ph) => phaseLevels(plan, ph.name));
  const of = (entity: string) => staged.filter((s) => s.entity === entity);
  const out: RoundResult = { inserted: 0, updated: 0, unchanged: 0, deleted: 0, quarantined: staged.reduce((n, s) => n + s.quarantined, 0), conflicts: 0, clean: true };
  const tally = (l: { inserted: number; updated: number; unchanged: number; quarantined: number; deleted?: number; conflicts?: number }) => {
    out.inserted += l.inserted;
    out.updated += l.updated;
    out.unchanged += l.unchanged;
    out.quarantined += l.quarantined;
    out.deleted += l.deleted ?? 0;
    out.conflicts += l.conflicts ?? 0;
  };
  for (const level of levels) {
    const loads = await Promise.all(
      level.flatMap((entity) =>
        of(entity).map((s) =>
          batch.loadBatch.executeWithOptions({ summary: `sync round ${round}: ${entity}: upsert ${thousands(s.staged)} changed rows` }, [{ migrationId, entity, batchId: s.batchId, runId, apply: 'upserts' }]),
        ),
      ),
    );
    loads.forEach(tally);
  }
  for (const level of [...levels].reverse()) {
    const deletes = await Promise.all(
      level.flatMap((entity) =>
        of(entity)
          .filter((s) => s.deletes > 0)
          .map((s) => batch.loadBatch.executeWithOptions({ summary: `sync round ${round}: ${entity}: delete ${thousands(s.deletes)} rows gone from the source` }, [{ migrationId, entity, batchId: s.batchId, runId, apply: 'deletes' }])),
      ),
    );
    deletes.forEach(tally);
  }
  const checks = await Promise.all(staged.map((s) => batch.reconcileBatch.executeWithOptions({ summary: `sync round ${round}: ${s.entity}: reconcile the changed rows` }, [{ migrationId, entity: s.entity, batchId: s.batchId }])));
  out.clean = checks.every((c) => c.clean);
  return out;
}

/** Adds a round's result to the sync's tally. */
export function addRound(s: SyncReport, r: RoundResult, policy: 'source_wins' | 'target_wins' | 'quarantine'): void {
  s.applied.inserted += r.inserted;
  s.applied.updated += r.updated;
  s.applied.unchanged += r.unchanged;
  s.applied.deleted += r.deleted;
  s.applied.quarantined += r.quarantined;
  s.conflicts.detected += r.conflicts;
  if (policy === 'source_wins') s.conflicts.sourceWon += r.conflicts;
  else if (policy === 'target_wins') s.conflicts.targetKept += r.conflicts;
  else s.conflicts.quarantined += r.conflicts;
  if (!r.clean) s.roundsUnclean++;
}
