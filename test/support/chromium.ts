// A real browser for the page tests: Debian's Chromium (/usr/bin/chromium, which .ci/run installs)
// driven by playwright-core. One browser per test file; each test opens a Tab (its own context,
// so its own cookies) and calls `step(name)` at every page it reaches: the step saves a desktop
// and a 390 px mobile screenshot under test-results/browser/, and fails the test on any console
// error, failed request or horizontal overflow at 390 px (or 320 px) since the last step.
// `axe()` runs axe-core on the page and fails on serious or critical violations.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { ROOT } from './mauth-process.js';

export const CHROMIUM_PATH = process.env.MAUTH_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const RESULTS_DIR = join(ROOT, 'test-results', 'browser');

const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 390, height: 844 };
const NARROWEST = 320;

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS });
}

const fileName = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

export class Tab {
  readonly page: Page;
  /** What went wrong since the last step: console errors, failed requests, page errors. */
  private problems: string[] = [];
  /** Documents answered with 4xx on purpose (an error page, a form shown again with its errors). */
  private readonly documentErrors = new Set<string>();
  private steps = 0;
  private readonly dir: string;

  private constructor(
    page: Page,
    dir: string,
    private readonly scripts: boolean,
  ) {
    this.page = page;
    this.dir = dir;
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      // Chromium reports every document answered with 4xx/5xx as a failed load; those pages are meant.
      // Pages that are not Mauth's (an identity provider, an app's redirect target) may lack an icon.
      const failedUrl = message.text().startsWith('Failed to load resource') ? message.location().url : undefined;
      if (failedUrl && (this.documentErrors.has(failedUrl) || new URL(failedUrl).pathname === '/favicon.ico')) return;
      this.problems.push(`console error: ${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (err) => this.problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (request) => {
      // A navigation that replaces a page still loading aborts it: not a failure of the page.
      if (request.failure()?.errorText === 'net::ERR_ABORTED' && request.isNavigationRequest()) return;
      this.problems.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`);
    });
    page.on('response', (response) => {
      if (response.status() < 400 || new URL(response.url()).pathname === '/favicon.ico') return;
      if (response.request().resourceType() === 'document') this.documentErrors.add(response.url());
      else this.problems.push(`request failed: ${response.request().method()} ${response.url()} answered ${response.status()}`);
    });
  }

  /** A new tab in its own context; screenshots go to test-results/browser/<suite>/<test>/. */
  static async open(browser: Browser, suite: string, test: string, options: BrowserContextOptions = {}): Promise<Tab> {
    const context = await browser.newContext({ viewport: DESKTOP, ...options });
    const dir = join(RESULTS_DIR, fileName(suite), fileName(test));
    mkdirSync(dir, { recursive: true });
    return new Tab(await context.newPage(), dir, options.javaScriptEnabled !== false);
  }

  /**
   * The page as it is now: two screenshots, no problems since the last step, no horizontal
   * scrolling on a phone. Throws what went wrong.
   */
  async step(name: string): Promise<void> {
    const { page } = this;
    this.steps += 1;
    const base = join(this.dir, `${String(this.steps).padStart(2, '0')}-${fileName(name)}`);
    await page.waitForLoadState('load');
    await page.screenshot({ path: `${base}-desktop.png`, fullPage: true });
    const overflow: string[] = [];
    for (const width of [MOBILE.width, NARROWEST]) {
      await page.setViewportSize({ width, height: MOBILE.height });
      const wide = await page.evaluate(() => {
        const root = document.documentElement;
        if (root.scrollWidth <= root.clientWidth) return undefined;
        const culprits = [...document.querySelectorAll('body *')]
          .filter((el) => el.getBoundingClientRect().right > root.clientWidth + 0.5)
          .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className ? `.${String(el.className).split(' ').join('.')}` : ''}`);
        return `${root.scrollWidth} px wide (${culprits.slice(0, 5).join(', ')})`;
      });
      if (wide) overflow.push(`horizontal overflow at ${width} px: ${wide}`);
      if (width === MOBILE.width) await page.screenshot({ path: `${base}-mobile.png`, fullPage: true });
    }
    await page.setViewportSize(DESKTOP);
    const problems = [...this.problems, ...overflow];
    this.problems = [];
    if (problems.length) throw new Error(`step "${name}" (${page.url()}):\n  ${problems.join('\n  ')}`);
  }

  /** axe-core on the current page: throws on any serious or critical violation. */
  async axe(): Promise<void> {
    const { page } = this;
    // axe waits on timers, which do not run in a page without JavaScript.
    if (!this.scripts) throw new Error('axe needs a tab with JavaScript enabled');
    // Evaluated through the DevTools protocol, which the pages' CSP (no inline scripts) does not govern.
    if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(`${AXE_SOURCE}\n;0`);
    const violations = (await page.evaluate('window.axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations)')) as AxeViolation[];
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    if (serious.length) {
      throw new Error(`axe on ${page.url()}:\n  ${serious.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`).join('\n  ')}`);
    }
  }

  async close(): Promise<void> {
    await this.page.context().close();
  }
}
