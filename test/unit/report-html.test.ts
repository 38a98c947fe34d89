import { renderReportHtml } from '../../src/report/html';
import { reportMarkdown } from '../../src/report/write-report';
import type { ReportData } from '../../src/report/report-data';
import { emptyProgress, type EntityProgress, type RollbackRecord } from '../../src/shared/migration';

const t0 = Date.UTC(2025, 5, 3, 14, 0, 0);
const at = (s: number) => new Date(t0 + s * 1000).toISOString();

function entity(name: string, sourceRows: number, over: Partial<EntityProgress> = {}): EntityProgress {
  return {
    ...emptyProgress(name, sourceRows),
    batches: 4,
    batchesDone: 4,
    extracted: sourceRows,
    inserted: sourceRows - 3,
    updated: 2,
    unchanged: 1,
    reconcile: { expected: sourceRows, found: sourceRows, missing: 0, mismatched: 0, duplicated: 0, sampleMissing: [], sampleMismatched: [] },
    ...over,
  };
}

function sample(over: Partial<ReportData> = {}): ReportData {
  return {
    generatedAt: at(200),
    report: {
      migrationId: 'lms-eu1',
      planHash: 'sha256:abc123',
      status: 'completed',
      startedBy: 'op-ada',
      entities: [entity('users', 48310, { quarantined: 37, inserted: 45859 }), entity('courses', 2875), entity('enrollments', 186420, { batchesDone: 1 })],
      phases: [
        {
          phase: 'people',
          clean: true,
          entities: [
            { entity: 'users', sourceRows: 48310, quarantined: 37, missing: 0, extra: 0, sampleMissing: [], sampleExtra: [], references: [{ column: 'org_unit_id', parent: 'org_units', dangling: 2 }], checksum: { rows: 48273, md5: 'd41d8cd98f00b204e9800998ecf8427e' }, clean: true },
          ],
        },
      ],
      approvals: [{ phase: 'people', approver: 'op-grace', decision: 'approve', decidedAt: at(90) }],
      clean: true,
    },
    workflow: { workflowId: 'migration-lms-eu1', url: 'http://localhost:8233/namespaces/default/workflows/migration-lms-eu1', status: 'COMPLETED', startTime: at(0), closeTime: at(185) },
    quarantine: [{ entity: 'users', reason: 'invalid_email', rows: 37 }],
    throughput: Array.from({ length: 600 }, (_, i) => ({ at: at(2 + i * 0.3), rows: 100 + (i % 9) * 10 })),
    timings: [
      { label: 'started', at: at(0) },
      { label: 'completed', at: at(185) },
    ],
    ...over,
  };
}

/** The inner HTML of the table with this data-testid, or undefined. */
function table(html: string, testId: string): string | undefined {
  return new RegExp(`<table data-testid="${testId}">([\\s\\S]*?)</table>`).exec(html)?.[1];
}
const bodyRows = (t: string) => (/<tbody>([\s\S]*?)<\/tbody>/.exec(t)?.[1] ?? '').match(/<tr[\s>][\s\S]*?<\/tr>/g) ?? [];
const cells = (row: string) => [...row.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim());
const polylinePoints = (html: string) => /<polyline[^>]*points="([^"]*)"/.exec(html)?.[1]?.trim().split(/\s+/) ?? [];

describe('renderReportHtml', () => {
  it('is one self-contained document: no scripts, no external resources', () => {
    const html = renderReportHtml(sample());
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|@import|src=/i);
    expect(html).toContain("default-src 'none'");
  });

  it('has one row per entity with its numbers, and a total', () => {
    const t = table(renderReportHtml(sample()), 'entities')!;
    const rows = bodyRows(t).map(cells);
    expect(rows.map((r) => r[0])).toEqual(['users', 'courses', 'enrollments']);
    // entity, progress, source, extracted, inserted, updated, unchanged, quarantined, found/expected, missing, mismatched, duplicated
    expect(rows[0]).toEqual(['users', '4/4 batches', '48,310', '48,310', '45,859', '2', '1', '37', '48,310/48,310', '0', '0', '0']);
    expect(rows[2]![1]).toBe('1/4 batches');
    expect(bodyRows(t)[2]).toContain('style="width:25%"');
    expect(t).toMatch(/<tfoot>[\s\S]*Total[\s\S]*237,605/);
  });

  it('escapes every interpolated string: a <script> entity name stays text', () => {
    const data = sample();
    data.report.entities[0]!.entity = '<script>alert("x")</script>';
    data.report.startedBy = '"><img onerror=1>';
    data.quarantine[0]!.reason = '<b>bold</b>';
    const html = renderReportHtml(data);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>bold');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('&lt;b&gt;bold&lt;/b&gt;');
  });

  it('links to the Web UI over http(s) only', () => {
    expect(renderReportHtml(sample())).toContain('href="http://localhost:8233/namespaces/default/workflows/migration-lms-eu1"');
    const data = sample();
    data.workflow.url = 'javascript:alert(1)';
    expect(renderReportHtml(data)).not.toContain('javascript:');
  });

  it('charts the throughput as an svg whose line has one point per bucket', () => {
    const html = renderReportHtml(sample());
    expect(html).toContain('<svg data-testid="throughput-chart"');
    const buckets = Number(/(\d+) buckets of/.exec(html)?.[1]);
    expect(buckets).toBeGreaterThanOrEqual(40);
    expect(buckets).toBeLessThanOrEqual(80);
    expect(polylinePoints(html)).toHaveLength(buckets);
    expect(html).toContain('rows/s');
  });

  it('plots a single batch as one bucket over the time since the start', () => {
    const html = renderReportHtml(sample({ throughput: [{ at: at(10), rows: 500 }] }));
    expect(polylinePoints(html)).toHaveLength(1);
    expect(html).toContain('average 50');
  });

  it('omits the chart when no batch has loaded, and says why', () => {
    const html = renderReportHtml(sample({ throughput: [] }));
    expect(html).not.toContain('throughput-chart');
    expect(html).not.toContain('<svg');
    expect(html).toContain('No batch has been loaded yet');
  });

  it('shows a running migration with the time elapsed so far', () => {
    const data = sample({ generatedAt: at(125) });
    data.report.status = 'running';
    data.report.clean = false;
    data.workflow = { workflowId: 'migration-lms-eu1', status: 'RUNNING', startTime: at(0) };
    const html = renderReportHtml(data);
    expect(html).toContain('Elapsed so far');
    expect(html).toContain('2m 05s');
    expect(html).toContain('not yet reconciled');
    expect(html).not.toContain('>differences<');
  });

  it('lists phase reconcile results with dangling references, and quarantine reasons', () => {
    const html = renderReportHtml(sample());
    const phases = bodyRows(table(html, 'phases')!).map(cells);
    expect(phases).toEqual([['people clean', 'users', '0', '0', 'org_unit_id → org_units: 2', '48,273', 'd41d8cd98f00b204e9800998ecf8427e', 'clean']]);
    expect(bodyRows(table(html, 'quarantine')!).map(cells)).toEqual([['users', 'invalid_email', '37']]);
  });

  it('shows the delta sync and the cutover with its final reconcile, only for a plan with sync', () => {
    expect(renderReportHtml(sample())).not.toContain('data-testid="sync"');
    const base = sample();
    const html = renderReportHtml({
      ...base,
      report: {
        ...base.report,
        sync: { mode: 'logical', rounds: 42, applied: { inserted: 10, updated: 20, unchanged: 5, deleted: 3, quarantined: 1 }, conflicts: { detected: 2, sourceWon: 0, targetKept: 0, quarantined: 2 }, roundsUnclean: 0, lag: { changes: 7, seconds: 2, retainedWalBytes: 3 * 1048576 } },
        cutover: {
          requestedBy: 'op-grace',
          requestedAt: at(150),
          completedAt: at(170),
          windowSeconds: 20,
          finalRounds: 2,
          finalChanges: 9,
          verified: { clean: true, entities: [{ entity: 'users', sourceRows: 48310, compared: 48271, missing: 0, mismatched: 0, extra: 0, quarantined: 39, skipped: 0, sampleMissing: [], sampleMismatched: [] }] },
        },
      },
    });
    expect(html).toContain('Delta sync and cutover');
    expect(html).toContain('cut over');
    expect(html).toMatch(/window 20 s · final delta 9 changes in 2 rounds/);
    expect(html).toMatch(/2 \(0 source won · 0 target kept · 2 quarantined\)/);
    expect(bodyRows(table(html, 'final-reconcile')!).map(cells)).toEqual([['users', '48,310', '48,271', '0', '0', '0', '39', '0']]);
  });

  it('shows the rollback section only when there was a rollback', () => {
    expect(renderReportHtml(sample())).not.toContain('data-testid="rollback"');
    const rollback: RollbackRecord = {
      reason: 'phase people: 3 missing',
      steps: [{ step: 'unload users', result: { deleted: 48273 } }],
      before: [{ table: 'lms.users', rows: 10, md5: 'aaa' }],
      after: [{ table: 'lms.users', rows: 11, md5: 'bbb' }],
      restored: false,
    };
    const data = sample();
    data.report.rollback = rollback;
    const html = renderReportHtml(data);
    const section = /<section class="rollback" data-testid="rollback">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '';
    expect(section).toContain('phase people: 3 missing');
    expect(section).toContain('unload users');
    expect(section).toContain('deleted: 48,273');
    expect(section).toContain('checksums differ');
    expect(section).toMatch(/<dt>Restored<\/dt><dd>no<\/dd>/);
    expect(section).toContain('>differs<');
  });

  it('shows the audit chain head only when given', () => {
    expect(renderReportHtml(sample())).not.toContain('Audit chain');
    const html = renderReportHtml(sample({ audit: { head: { seq: 1834, hash: 'b3f1c0' }, events: 1834, verified: true } }));
    expect(html).toMatch(/seq 1,834 · <code class="hash">b3f1c0<\/code>/);
    expect(html).toContain('>verified<');
  });

  describe('the outcome of a run that did not complete', () => {
    /** The header's h1 (status and outcome badges) and the headline under it. */
    const h1 = (html: string) => /<h1>([\s\S]*?)<\/h1>/.exec(html)?.[1] ?? '';
    const headlineOf = (html: string) => /<p class="headline" data-testid="headline">([\s\S]*?)<\/p>/.exec(html)?.[1];
    const restored: RollbackRecord = {
      reason: 'rollback requested by op-ada at the gate of people: drill',
      requestedBy: 'op-ada',
      steps: [{ step: 'unload users', result: { deleted: 48273, restored: 2 } }],
      before: [{ table: 'public.people', rows: 65, md5: 'aaa' }, { table: 'public.org_units', rows: 2, md5: 'ccc' }],
      after: [{ table: 'public.people', rows: 65, md5: 'aaa' }, { table: 'public.org_units', rows: 2, md5: 'ccc' }],
      restored: true,
    };
    /** Every batch and phase had reconciled clean before the rollback: the report's `clean` is still true. */
    const rolledBack = (rollback: RollbackRecord) => {
      const data = sample();
      data.report.status = 'rolled-back';
      data.report.rollback = rollback;
      expect(data.report.clean).toBe(true);
      return data;
    };

    it('a completed clean run says so', () => {
      const html = renderReportHtml(sample());
      expect(headlineOf(html)).toBe('completed, every batch reconciled clean');
      expect(h1(html)).toContain('>clean<');
      expect(reportMarkdown(sample().report)).toContain('Status: **completed**, every batch and phase reconciled clean.');
    });

    it('a rolled-back run that restored the target says "rolled back (target restored)", never "clean"', () => {
      const data = rolledBack(restored);
      const html = renderReportHtml(data);
      expect(headlineOf(html)).toBe('rolled back (target restored)');
      expect(h1(html)).toContain('>target restored<');
      expect(h1(html)).not.toContain('>clean<');
      expect(html).toContain('<title>Migration lms-eu1 — rolled back (target restored)</title>');
      const md = reportMarkdown(data.report);
      expect(md).toContain('Status: **rolled-back** — rolled back (target restored).');
      expect(md).not.toContain('reconciled clean');
    });

    it('a rollback whose checksums differ names the tables, and never claims the target restored', () => {
      const data = rolledBack({ ...restored, after: [{ table: 'public.people', rows: 66, md5: 'bbb' }, restored.after[1]!], restored: false });
      const html = renderReportHtml(data);
      expect(headlineOf(html)).toBe('rolled back — TARGET CHECKSUMS DIFFER (public.people)');
      expect(h1(html)).toContain('>target checksums differ<');
      expect(html).not.toMatch(/>target restored</);
      expect(html).toMatch(/<dt>Tables that differ from before<\/dt><dd><code>public.people<\/code><\/dd>/);
      const md = reportMarkdown(data.report);
      expect(md).toContain('Status: **rolled-back** — rolled back — TARGET CHECKSUMS DIFFER (public.people).');
      expect(md).toContain('## Rollback: TARGET CHECKSUMS DIFFER (public.people)');
      expect(md).not.toMatch(/reconciled clean|target restored/);
    });

    it('a rollback with no checksums from before says the target is not verified', () => {
      const data = rolledBack({ ...restored, before: [], restored: false });
      expect(headlineOf(renderReportHtml(data))).toBe('rolled back — target NOT verified: no checksums from before the migration');
    });

    it('a rollback after completion says so, and a blocked one shows its line', () => {
      const after = rolledBack({ ...restored, reason: 'rollback after completion requested by op-ada: drill', afterCompletion: true });
      after.rollbackWorkflow = { workflowId: 'cutover-lms-eu1/rollback', url: 'http://localhost:8233/namespaces/default/workflows/cutover-lms-eu1%2Frollback', status: 'COMPLETED' };
      const html = renderReportHtml(after);
      expect(headlineOf(html)).toBe('rolled back after completion (target restored)');
      expect(html).toContain('<h2>Rollback after completion <span class="badge ok">target restored</span></h2>');
      expect(html).toContain('<code>cutover-lms-eu1/rollback</code>');
      const blocked = rolledBack({ ...restored, afterCompletion: true, restored: false, after: [], blocked: 'rollback of users blocked: 3 row(s) of public.it_badges reference rows' });
      blocked.report.status = 'rollback-blocked';
      const b = renderReportHtml(blocked);
      expect(headlineOf(b)).toBe('rollback after completion BLOCKED: rollback of users blocked: 3 row(s) of public.it_badges reference rows');
      expect(h1(b)).toContain('>rollback blocked<');
    });

    it('a failed run is never "clean"', () => {
      const data = sample();
      data.report.status = 'failed';
      expect(headlineOf(renderReportHtml(data))).toBe('failed');
      expect(h1(renderReportHtml(data))).not.toContain('>clean<');
      expect(reportMarkdown(data.report)).not.toContain('reconciled clean');
    });
  });

  it("shows a completed migration's rollback window: open, or closed by whom and when", () => {
    const open = renderReportHtml(sample({ rollbackWindow: { state: 'open' } }));
    expect(open).toMatch(/<dt>Rollback window<\/dt><dd><span class="badge warn">open<\/span> <code>cutover rollback lms-eu1<\/code> can still undo it<\/dd>/);
    const closed = sample({ rollbackWindow: { state: 'closed', closedBy: 'op-grace', closedAt: at(300), reason: 'cut over for good' } });
    expect(renderReportHtml(closed)).toContain('<dt>Rollback window</dt><dd><span class="badge neutral">closed</span> by op-grace at 2025-06-03 14:05:00 UTC (cut over for good)</dd>');
    expect(reportMarkdown(closed.report, closed)).toContain('Rollback window: closed by op-grace at 2025-06-03T14:05:00.000Z (cut over for good); `cutover rollback` refuses it.');
  });

  it('shows reconcile samples as text, whatever they hold (a business key and the columns that differ)', () => {
    const data = sample();
    data.report.entities[0]!.reconcile.sampleMismatched = ['4711 (columns: email, status)', '<b>x</b>'];
    data.report.phases[0]!.entities[0]!.sampleMissing = ['["DE", 12] (columns: a, b)'];
    const rows = bodyRows(table(renderReportHtml(data), 'samples')!).map(cells);
    expect(rows).toEqual([
      ['users', 'batch: mismatched', '4711 (columns: email, status)'],
      ['users', 'batch: mismatched', '&lt;b&gt;x&lt;/b&gt;'],
      ['users', 'phase people: missing', '[&quot;DE&quot;, 12] (columns: a, b)'],
    ]);
    expect(renderReportHtml(sample())).not.toContain('data-testid="samples"');
    expect(reportMarkdown(data.report)).toContain('- users, batch, mismatched: 4711 (columns: email, status)');
  });
});
