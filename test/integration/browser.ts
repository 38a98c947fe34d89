import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { Isolated, ROOT, spawnCli } from './helpers';

/** Debian's Chromium (test tools cannot download browsers here; `npm test` installs it, see scripts/ensure-install.js); CUTOVER_CHROMIUM names another. */
export const CHROMIUM = process.env.CUTOVER_CHROMIUM || '/usr/bin/chromium';

/** Where browser tests save screenshots (git-ignored). */
export const SCREENSHOTS = join(ROOT, 'test-output');

/** Headless Chromium; fails, never skips, when the browser is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: \`npm test\` installs it when run as root with apt-get; otherwise run \`sudo apt-get update && sudo apt-get install -y chromium\` (or set CUTOVER_CHROMIUM to a Chromium binary)`,
    );
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

export function screenshotPath(name: string): string {
  return join(SCREENSHOTS, `web-ui-${name}.png`);
}

export interface WorkflowPage {
  /** The "Input" and "Result" payload blocks at the top of the workflow's history page. */
  inputAndResult: Locator;
  /** The Input block alone. */
  input: Locator;
  /** The Web UI's codec status icon in the top bar (`data-encoder-status-success`, `-error`, ...). */
  codecStatus: Locator;
}

/**
 * Opens the Web UI page of a workflow (UI 2.42: `/namespaces/<ns>/workflows/<id>` redirects to
 * `.../<runId>/history`) and waits until its input is shown, decoded if it can be.
 *
 * `codecUrl` is this browser's own codec endpoint, as a viewer would paste it under "Configure
 * Codec Server": the UI keeps it in localStorage (`endpoint`, JSON-encoded) and appends
 * `/decode`. `overrideRemoteCodecConfiguration` makes it win over a server-wide
 * `--ui-codec-endpoint`; `passAccessToken` stays off (the UI sends an OAuth token only to an
 * https endpoint) and so does `includeCredentials` (the token is in the URL, no cookie). Without
 * `codecUrl` the browser has no codec endpoint at all. Use one page (context) per viewer: init
 * scripts accumulate on a page.
 */
export async function openWorkflowPage(page: Page, workflowId: string, options: { codecUrl?: string; uiUrl?: string; namespace?: string } = {}): Promise<WorkflowPage> {
  await page.addInitScript(
    ({ endpoint }) => {
      const storage = (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void; removeItem(k: string): void } }).localStorage;
      if (endpoint) {
        storage.setItem('endpoint', JSON.stringify(endpoint));
        storage.setItem('overrideRemoteCodecConfiguration', 'true');
        storage.setItem('passAccessToken', 'false');
        storage.setItem('includeCredentials', 'false');
      } else {
        for (const key of ['endpoint', 'overrideRemoteCodecConfiguration', 'passAccessToken', 'includeCredentials']) storage.removeItem(key);
      }
    },
    { endpoint: options.codecUrl ?? null },
  );
  const uiUrl = (options.uiUrl ?? 'http://127.0.0.1:8233').replace(/\/$/, '');
  const namespace = options.namespace ?? 'default';
  await page.goto(`${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`);
  await page.waitForURL(/\/history(\?|$)/);
  const inputAndResult = page.getByTestId('input-and-result');
  const input = inputAndResult.locator(':scope > div').first();
  await input.locator('.cm-content').first().waitFor();
  const codecStatus = page.locator('[data-testid^="data-encoder-status"]').first();
  if (options.codecUrl) {
    // `-configured` until the first decode answers; then `-success` or `-error`.
    await page.locator('[data-testid="data-encoder-status-success"], [data-testid="data-encoder-status-error"]').first().waitFor();
  }
  return { inputAndResult, input, codecStatus };
}

/** Waits until `locator`'s text contains `text`; its last text in the error otherwise. */
export async function waitForText(locator: Locator, text: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await locator.innerText().catch(() => '');
    if (last.includes(text)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${JSON.stringify(text)} did not appear within ${timeoutMs / 1000}s; the text was:\n${last}`);
}

/** Waits until the text of the page and all its frames (the UI renders Markdown in iframes) contains `text`. */
export async function waitForFramesText(page: Page, text: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const texts = await Promise.all(page.frames().map((f) => f.locator('body').innerText().catch(() => '')));
    last = texts.join('\n');
    if (last.includes(text)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${JSON.stringify(text)} did not appear in the page or its frames within ${timeoutMs / 1000}s; the text was:\n${last}`);
}

export interface CodecServerProcess {
  /** Base URL, without the token. */
  url: string;
  /** What an authorised viewer configures: `<url>/<token>`. */
  endpoint: string;
  token: string;
  output(): string;
  stats(): Promise<{ decoded: number; encoded: number; refused: number; failed: number }>;
  stop(): Promise<void>;
}

/**
 * Runs `cutover codec-server` for a test's own control database, on a free port. Each control
 * database holds its own codec key, so the stack's codec service cannot decode what a worker of
 * an `isolated()` test encrypted: such a test needs a codec server of its own.
 */
export async function startCodecServerFor(env: Isolated): Promise<CodecServerProcess> {
  const token = randomBytes(32).toString('hex');
  const child = await spawnCli(['codec-server', '--port', '0'], { CUTOVER_CONTROL_URL: env.config.databases.controlUrl, CUTOVER_CODEC_TOKEN: token }, /listening on (http:\/\/\S+)/, 'codec server');
  const url = child.ready[1]!;
  return {
    url,
    endpoint: `${url}/${token}`,
    token,
    output: child.output,
    stats: async () => (await (await fetch(`${url}/healthz`)).json()) as { decoded: number; encoded: number; refused: number; failed: number },
    stop: () => child.kill('SIGTERM'),
  };
}
