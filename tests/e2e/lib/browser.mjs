// Launches Debian's Chromium through playwright-core (installed in webui/node_modules by
// `npm ci --prefix webui`; Playwright never downloads a browser here).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const webuiDir = path.resolve(here, '../../../webui');

export function loadPlaywright() {
    const require = createRequire(path.join(webuiDir, 'package.json'));
    try {
        return require('playwright-core');
    } catch {
        throw new Error(`playwright-core is not installed in ${webuiDir}/node_modules: run npm ci --prefix webui (scripts/lib/common.sh install_web)`);
    }
}

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Returns {browser, close()}; close() also removes the fresh user-data-dir.
export async function launchChromium() {
    if (!fs.existsSync(CHROMIUM)) {
        throw new Error(`${CHROMIUM} is missing: apt-get install chromium (scripts/lib/common.sh installs it)`);
    }
    if (!fs.existsSync(path.join(webuiDir, 'static/vendor/uPlot.iife.min.js'))) {
        throw new Error('webui/static/vendor is missing: run npm ci --prefix webui (its postinstall bundles uPlot)');
    }
    const { chromium } = loadPlaywright();
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'atsarray-e2e-chromium-'));
    // launchPersistentContext is how Playwright takes a user-data-dir of our own.
    const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1440, height: 1000 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    return {
        context,
        async close() {
            await context.close().catch(() => {});
            fs.rmSync(profile, { recursive: true, force: true });
        },
    };
}

// A new page of `browser` (launchChromium's) whose script errors are collected in `errors`; the
// page's console errors are echoed as TAP comments.
export async function openPage(browser, errors) {
    const page = await browser.context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
        if (m.type() === 'error') {
            console.log(`# browser console: ${m.text()}`);
        }
    });
    return page;
}
