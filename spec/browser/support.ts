/**
 * Browser-spec support: the demo server in-process on a free port and Debian's Chromium driven
 * by playwright-core (never downloaded). One browser per spec file (per `useDemoBrowser()`).
 *
 * @example
 * describe('fanout page', function () {
 *   useDemoBrowser();
 *   it('shows live marbles', () =>
 *     withPage('/fanout/', async (page) => {
 *       await waitForMarbles(page, { lane: 'results', atLeast: 5 });
 *     }));
 * });
 *
 * `withPage` fails the test on any console error or uncaught page error, and saves a screenshot
 * to screenshots/<name>.png (git-ignored; name defaults to the path, e.g. `fanout`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startDemoServer, type DemoServer } from '../../demos/server.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const demosDir = join(root, 'demos');
export const screenshotsDir = join(root, 'screenshots');

const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface Session {
  server: DemoServer;
  browser: Browser;
}

let session: Session | undefined;

function newestMtime(dir: string, accept: (file: string) => boolean): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const file = join(entry.parentPath, entry.name);
    if (entry.isFile() && accept(file)) newest = Math.max(newest, statSync(file).mtimeMs);
  }
  return newest;
}

/** Why the demo bundles need rebuilding, or null when demos/dist is up to date. */
export function staleDemoBundles(): string | null {
  const areas = readdirSync(demosDir).filter((area) => existsSync(join(demosDir, area, 'main.ts')));
  const bundles = areas.map((area) => join(demosDir, 'dist', `${area}.js`));
  const missing = bundles.find((bundle) => !existsSync(bundle));
  if (missing) return `${relative(root, missing)} is missing`;
  const oldestBundle = Math.min(...bundles.map((bundle) => statSync(bundle).mtimeMs));
  const isPageSource = (file: string) =>
    file.endsWith('.ts') &&
    !file.endsWith('server.ts') &&
    !file.includes(`${join('demos', 'dist')}`);
  const newestSource = Math.max(
    newestMtime(demosDir, isPageSource),
    newestMtime(join(root, 'lib'), (file) => file.endsWith('.ts')),
  );
  return newestSource > oldestBundle ? 'sources changed since the last demo build' : null;
}

/** Builds demos/dist with rollup when it is missing or older than its sources. */
export function ensureDemoBundles(): void {
  const reason = staleDemoBundles();
  if (!reason) return;
  console.log(`  building demo bundles (${reason})…`);
  const result = spawnSync(
    process.execPath,
    [join(root, 'node_modules', 'rollup', 'dist', 'bin', 'rollup'), '-c', 'demos/rollup.demos.mjs'],
    { cwd: root, encoding: 'utf8' },
  );
  if (result.status !== 0) {
    throw new Error(`demo build failed:\n${result.stdout}\n${result.stderr}`);
  }
}

/** Launches Debian's Chromium (fresh temporary profile; never a downloaded browser). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: chromiumArgs,
  });
}

/**
 * Registers before/after hooks in the current `describe`: build the demo bundles if stale, start
 * the demo server on a free port, launch one Chromium; close both afterwards.
 */
export function useDemoBrowser(): void {
  before(async function () {
    this.timeout(120_000);
    ensureDemoBundles();
    const server = await startDemoServer();
    try {
      session = { server, browser: await launchChromium() };
    } catch (err) {
      await server.close();
      throw err;
    }
  });
  after(async function () {
    this.timeout(30_000);
    const current = session;
    session = undefined;
    await current?.browser.close();
    await current?.server.close();
  });
}

function current(): Session {
  if (!session) throw new Error('call useDemoBrowser() in the describe block first');
  return session;
}

/** The demo server of the current `useDemoBrowser()` session (running in this process). */
export function demoServer(): DemoServer {
  return current().server;
}

/** The demo server's URL for `path` (e.g. `/sample/`). */
export function demoUrl(path: string): string {
  return current().server.url + path;
}

export interface OpenedPage {
  page: Page;
  /** Console errors and uncaught page errors seen so far. */
  errors: string[];
  /** Saves the screenshot, closes the page, and throws if any error was seen. */
  close(): Promise<void>;
}

export interface PageOptions {
  /** Screenshot file name without extension (default: derived from the path). */
  name?: string;
  /** Viewport (default 1200 × 900). */
  viewport?: { width: number; height: number };
}

const nameOf = (path: string) =>
  path
    .replace(/[?#].*$/, '')
    .replace(/^\/+|\/+$/g, '')
    .replace(/[^\w-]+/g, '-') || 'index';

/** Opens `path` of the demo server in a fresh browser context and waits for it to load. */
export async function openPage(path: string, options: PageOptions = {}): Promise<OpenedPage> {
  const context = await current().browser.newContext({
    viewport: options.viewport ?? { width: 1200, height: 900 },
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') {
      const { url, lineNumber } = message.location();
      errors.push(`console.error: ${message.text()}${url ? ` (${url}:${lineNumber})` : ''}`);
    }
  });
  page.on('pageerror', (err) => errors.push(`page error: ${err.stack ?? err.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) errors.push(`HTTP ${response.status()} ${response.url()}`);
  });
  try {
    await page.goto(demoUrl(path), { waitUntil: 'load' });
  } catch (err) {
    await context.close();
    throw err;
  }
  return {
    page,
    errors,
    async close() {
      try {
        mkdirSync(screenshotsDir, { recursive: true });
        await page.screenshot({
          path: join(screenshotsDir, `${options.name ?? nameOf(path)}.png`),
          fullPage: true,
        });
      } finally {
        await context.close();
      }
      if (errors.length > 0) throw new Error(`errors on ${path}:\n  ${errors.join('\n  ')}`);
    },
  };
}

/**
 * Opens `path`, runs `fn`, then saves a screenshot and fails if the page logged any console
 * error or threw (also when `fn` passed).
 */
export async function withPage<T>(
  path: string,
  fn: (page: Page, opened: OpenedPage) => Promise<T>,
  options: PageOptions = {},
): Promise<T> {
  const opened = await openPage(path, options);
  let result: T;
  try {
    result = await fn(opened.page, opened);
  } catch (err) {
    await opened.close().catch(() => undefined);
    if (opened.errors.length > 0 && err instanceof Error) {
      err.message += `\nerrors on the page:\n  ${opened.errors.join('\n  ')}`;
    }
    throw err;
  }
  await opened.close();
  return result;
}

export interface MarbleQuery {
  /** Lane name (`data-lane`); any lane when absent. */
  lane?: string;
  /** Mark kind (default 'next'). */
  kind?: 'next' | 'complete' | 'error' | 'unsubscribe';
  /** How many marks to wait for (counted in the DOM, i.e. those still in the window). */
  atLeast: number;
  timeoutMs?: number;
}

/** CSS selector of marble-diagram marks, e.g. `.mark[data-kind="next"][data-lane="a"]`. */
export function markSelector(query: Omit<MarbleQuery, 'atLeast'> = {}): string {
  const lane = query.lane === undefined ? '' : `[data-lane=${JSON.stringify(query.lane)}]`;
  return `.mark[data-kind="${query.kind ?? 'next'}"]${lane}`;
}

/** Waits until at least `atLeast` matching marks are drawn; resolves with the count seen. */
export async function waitForMarbles(page: Page, query: MarbleQuery): Promise<number> {
  const selector = markSelector(query);
  await page.waitForFunction(
    ({ selector: s, atLeast }) => document.querySelectorAll(s).length >= atLeast,
    { selector, atLeast: query.atLeast },
    { timeout: query.timeoutMs ?? 10_000 },
  );
  return page.locator(selector).count();
}

/** The texts inside the matching marbles, oldest first (only those still in the window). */
export function marbleLabels(
  page: Page,
  query: Omit<MarbleQuery, 'atLeast'> = {},
): Promise<string[]> {
  return page.locator(`${markSelector(query)} .marble-label`).allTextContents();
}
