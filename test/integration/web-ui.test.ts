import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext } from 'playwright-core';
import { seedLms } from '../../demo/lms/seed';
import { connectClient } from '../../src/clients/temporal';
import { loadConfig } from '../../src/config';
import { startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import type { Plan } from '../../src/plan/types';
import { progressQuery } from '../../src/shared/queries';
import { CodecServerProcess, launchChromium, openWorkflowPage, screenshotPath, startCodecServerFor, waitForFramesText, waitForText } from './browser';
import { cli, isolated, Isolated, ownerUrl, planFor, removeStaged, spawnWorker, WorkerProcess } from './helpers';

/** The UI shows an undecoded payload as stored: metadata in base64, "binary/encrypted" and the key id. */
const b64 = (s: string) => Buffer.from(s).toString('base64');
const ENCRYPTED = b64('binary/encrypted');
const KEY_ID = b64('cutover-codec-v1');

async function terminate(config: ReturnType<typeof loadConfig>, workflowId: string): Promise<void> {
  const { client, connection } = await connectClient(config);
  try {
    await client.workflow.getHandle(workflowId).terminate('web-ui test done').catch(() => undefined);
  } finally {
    await connection.close();
  }
}

describe('the Temporal Web UI with the codec server (headless Chromium)', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  let codec: CodecServerProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  // A gate holds the migration open after its only phase: the page shows a running workflow.
  const plan: Plan = { ...planFor(`webui-${Date.now().toString(36)}`, { batchSize: 250 }), phases: [{ name: 'people', entities: ['users'], gate: { distinctApprover: false } }] };
  const migrationId = idOf(plan);
  let workflowId: string;

  beforeAll(async () => {
    env = await isolated('webui');
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 500, seed: 11 });
    worker = await spawnWorker(env);
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-operator' });
    workflowId = started.workflowId;
    const { client, connection } = await connectClient(env.config);
    try {
      const handle = client.workflow.getHandle(workflowId);
      const deadline = Date.now() + 120_000;
      while ((await handle.query(progressQuery)).status !== 'awaiting-approval') {
        if (Date.now() > deadline) throw new Error(`the migration did not reach its gate:\n${worker.output().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      await connection.close();
    }
    // Its own codec server: the test's control database holds the codec key its worker used.
    codec = await startCodecServerFor(env);
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await codec?.stop();
    if (workflowId) await terminate(env.config, workflowId);
    await worker?.kill();
    await removeStaged(env, migrationId);
    await env?.cleanup();
  });

  const newPage = async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    contexts.push(context);
    return context.newPage();
  };

  it('shows a viewer with the codec endpoint and its token the decoded input', async () => {
    const page = await newPage();
    const wf = await openWorkflowPage(page, workflowId, { codecUrl: codec.endpoint, uiUrl: env.config.temporal.uiUrl });
    const text = await waitForText(wf.input, plan.name);
    await page.screenshot({ path: screenshotPath('decoded'), fullPage: true });
    expect(text).toContain(`"name": "${plan.name}"`);
    expect(text).toContain('"version": 1');
    expect(text).not.toContain(ENCRYPTED);
    expect(text).not.toContain(KEY_ID);
    expect(await page.getByTestId('data-encoder-status-success').count()).toBe(1);
    expect(await page.getByText(workflowId).count()).toBeGreaterThan(0);
    expect((await codec.stats()).decoded).toBeGreaterThan(0);

    // The migration as a business process: its summary, and its current details (the progress table).
    await page.getByText('User Metadata', { exact: true }).click();
    // The UI renders Markdown in sandboxed iframes: read the page and every frame.
    const details = await waitForFramesText(page, 'Entity progress');
    await page.screenshot({ path: screenshotPath('current-details'), fullPage: true });
    expect(details).toContain(`Cutover migration ${plan.name}: 1 entity in 1 phase, started by it-operator`);
    expect(details).toContain(`Migration ${plan.name}: awaiting-approval, phase people`);
    expect(details).toMatch(/users\s+2 of 2\s+500\s+500\s+500\s+0\s+clean \(500 of 500\)/);
    expect(details).toMatch(/people\s+users\s+0\s+0\s+0\s+clean/);
  });

  it('lists and filters migrations by their search attributes', async () => {
    const page = await newPage();
    const ui = env.config.temporal.uiUrl.replace(/\/$/, '');
    const query = `CutoverStatus="awaiting-approval" AND CutoverPlan="${plan.name}"`;
    await page.goto(`${ui}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
    await page.getByText(workflowId).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: screenshotPath('list-filtered'), fullPage: true });
    // A filter that does not match shows no such row.
    await page.goto(`${ui}/namespaces/default/workflows?query=${encodeURIComponent(`CutoverStatus="completed" AND CutoverPlan="${plan.name}"`)}`);
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(1500);
    expect(await page.getByText(workflowId).count()).toBe(0);
  });

  it('shows a viewer with a wrong token, or no codec endpoint, only the encrypted payload', async () => {
    const refusedBefore = (await codec.stats()).refused;
    const wrongToken = randomBytes(32).toString('hex');
    for (const [name, codecUrl] of [['wrong-token', `${codec.url}/${wrongToken}`], ['no-codec', undefined]] as const) {
      const page = await newPage();
      const wf = await openWorkflowPage(page, workflowId, { codecUrl, uiUrl: env.config.temporal.uiUrl });
      const text = await waitForText(wf.input, ENCRYPTED);
      await page.screenshot({ path: screenshotPath(name), fullPage: true });
      expect(text).toContain(KEY_ID);
      expect(text).not.toContain(`"name": "${plan.name}"`);
      expect(text).not.toContain('"version": 1');
      if (codecUrl) {
        expect(await page.getByTestId('data-encoder-status-error').count()).toBe(1);
        expect(await page.getByText('Codec Server could not connect').count()).toBeGreaterThan(0);
      }
      expect(await page.getByText(workflowId).count()).toBeGreaterThan(0);
    }
    expect((await codec.stats()).refused).toBeGreaterThan(refusedBefore);
    // Refusals are logged, without the token presented or any payload.
    expect(codec.output()).toMatch(/refused decode from .*: wrong token/);
    expect(codec.output()).not.toContain(wrongToken);
    expect(codec.output()).not.toContain(codec.token);
  });
});

describe("the stack's codec service in the Web UI", () => {
  it('decodes, for a viewer with `cutover stack codec-url --web-ui`, a workflow a client of the stack started', async () => {
    const status = JSON.parse((await cli(['stack', 'status', '--json'])).stdout);
    const codecUrl = (await cli(['stack', 'codec-url', '--web-ui'])).stdout.trim();
    expect(codecUrl).toMatch(new RegExp(`^${status.endpoints.codec.url}/[0-9a-f]{64}$`));

    // No worker polls this task queue: the workflow stays open with its input in history.
    const config = loadConfig();
    const marker = `stack-codec-${randomBytes(6).toString('hex')}`;
    const { client, connection } = await connectClient(config);
    let workflowId: string | undefined;
    const browser = await launchChromium();
    try {
      const handle = await client.workflow.start('webUiCodecProbe', { workflowId: `it-${marker}`, taskQueue: `it-${marker}`, args: [{ marker }] });
      workflowId = handle.workflowId;
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      const decoded = await openWorkflowPage(page, workflowId, { codecUrl, uiUrl: config.temporal.uiUrl });
      expect(await waitForText(decoded.input, marker)).toContain(`"marker": "${marker}"`);
      await page.screenshot({ path: screenshotPath('stack-codec'), fullPage: true });
      const refused = await openWorkflowPage(await browser.newPage(), workflowId, { codecUrl: `${status.endpoints.codec.url}/${randomBytes(32).toString('hex')}`, uiUrl: config.temporal.uiUrl });
      const text = await waitForText(refused.input, ENCRYPTED);
      expect(text).not.toContain(marker);
    } finally {
      await browser.close();
      if (workflowId) await client.workflow.getHandle(workflowId).terminate('web-ui test done').catch(() => undefined);
      await connection.close();
    }
  });
});
