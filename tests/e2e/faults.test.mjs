// End-to-end test of the console's fault injection panel in headless Chromium against the real
// daemon ($ATSARRAY_BINARY, started with [fault] enabled = true) and the real libiscsi client
// tools/ats-counter ($ATS_COUNTER_BINARY): a false_miscompare rule added through the panel's form
// makes the client see miscompares and the rule's hit counter move; disabled in the panel, the
// client sees exact behaviour (no miscompare, an exact count); deleted, the list is empty. An
// invalid rule gets the API's own error next to the form. Everything is done by clicks and typing.
// Waits for DOM changes with generous timeouts and never asserts timings. Saves a full-page
// screenshot (faults-e2e.png) in $E2E_ARTIFACTS or the working directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchChromium, openPage, webuiDir } from './lib/browser.mjs';
import { endRun, startDaemonWith, startProcess } from './lib/processes.mjs';

const ARTIFACTS = process.env.E2E_ARTIFACTS ?? process.cwd();
const SHOT = path.join(ARTIFACTS, 'faults-e2e.png');
const TARGET = 'iqn.2026-11.org.atsarray:e2e-faults';
const LBA = 1000;
const INCREMENTS = 30;
const WAIT = { timeout: 90_000 };
const TEST = { timeout: 300_000 };

let tmp = null;
let daemon = null;
let browser = null;
let page = null;
let base = '';
let portal = 0;
let token = '';
let ruleId = null;
let injected = 0;  // miscompares the first ats-counter run saw
const pageErrors = [];

async function startDaemon() {
    const binary = process.env.ATSARRAY_BINARY;
    assert.ok(binary && fs.existsSync(binary), `ATSARRAY_BINARY (${binary}) must name the built daemon`);
    assert.ok(process.env.ATS_COUNTER_BINARY && fs.existsSync(process.env.ATS_COUNTER_BINARY),
              `ATS_COUNTER_BINARY (${process.env.ATS_COUNTER_BINARY}) must name tools/ats-counter`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atsarray-e2e-faults-'));
    const started = await startDaemonWith({
        binary, dir: tmp, staticDir: path.join(webuiDir, 'static'), writer: 'tests/e2e/faults.test.mjs',
        rest: `
[fault]
enabled = true   # no rules: the panel adds them

[[target]]
name = "${TARGET}"
alias = "e2e-faults"

[[target.lun]]
id = 0
backend = "memory"
size = "64MiB"
block_size = 512
`,
    });
    ({ daemon, portal, token } = started);
    base = `http://127.0.0.1:${started.consolePort}`;
}

// One ats-counter run: a single incrementing session (so no genuine miscompare can happen) and a
// writer on the neighbouring blocks. Resolves to its exit code, output and parsed totals.
async function runCounter() {
    const counter = startProcess(process.env.ATS_COUNTER_BINARY, [
        '--portal', `127.0.0.1:${portal}`, '--target', TARGET, '--lba', String(LBA),
        '--sessions', '1', '--writers', '1', '--increments', String(INCREMENTS)]);
    const code = await counter.exited;
    const m = /counter (\d+), successful ATS (\d+), miscompares (\d+)/.exec(counter.output);
    assert.ok(m, `ats-counter printed no totals:\n${counter.output}`);
    console.log(`# ats-counter: ${m[0]} (exit ${code})`);
    return { code, output: counter.output, counter: Number(m[1]), successes: Number(m[2]), miscompares: Number(m[3]) };
}

const api = async (p) => (await fetch(base + p)).json();
const rowSel = (id) => `#faults-table tbody tr[data-key="${id}"]`;
const cellNumber = (id, cls) => page.locator(`${rowSel(id)} td.${cls}`).textContent().then((t) => Number(t.replace(/[^0-9]/g, '')));

// Waits until the rule's `cls` cell (hits, matched) in the panel shows `want`.
async function waitCell(id, cls, want) {
    await page.waitForFunction(([sel, w]) => {
        const td = document.querySelector(sel);
        return td && Number(td.textContent.replace(/[^0-9]/g, '')) === w;
    }, [`${rowSel(id)} td.${cls}`, want], WAIT);
}

before(async () => {
    await startDaemon();
    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
}, { timeout: 120_000 });

after(() => endRun({ browser, daemon, tmp, artifacts: ARTIFACTS, logName: 'faults-e2e-daemon.log' }));

test('with injection on in the config the panel offers its form, the presets and no rules', TEST, async () => {
    await page.goto(base + '/');
    await page.locator('#conn[data-state="live"]').waitFor(WAIT);
    await page.locator('#fault-form').waitFor({ state: 'visible', ...WAIT });
    assert.equal(await page.locator('#faults-off').isVisible(), false);
    await page.locator('#fault-preset option').first().waitFor({ state: 'attached', ...WAIT });
    const presets = await api('/api/v1/faults/presets');
    assert.deepEqual(await page.locator('#fault-preset option').evaluateAll((os) => os.map((o) => o.value)),
                     presets.map((p) => p.name));
    await page.locator('#faults-table tbody tr.empty').waitFor(WAIT);
    // The target select lists the daemon's target.
    await page.locator(`#fault-target option[value="${TARGET}"]`).waitFor({ state: 'attached', ...WAIT });
});

test('an invalid rule gets the API\'s error next to the form and adds nothing', TEST, async () => {
    await page.fill('#fault-name', 'e2e-invalid');
    await page.selectOption('#fault-action', 'false_miscompare');
    await page.fill('#fault-probability', '2');
    await page.click('#fault-submit');
    await page.locator('#fault-form-error').waitFor({ state: 'visible', ...WAIT });
    // The same spec straight to the API, for its own words.
    const r = await fetch(`${base}/api/v1/faults`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ name: 'e2e-invalid', action: 'false_miscompare', command: 'ats', enabled: true, probability: 2,
                               every: 1, max_hits: 0, active_seconds: 0 }),
    });
    assert.equal(r.status, 422);
    const { error } = await r.json();
    assert.match(error.message, /probability/);
    const shown = await page.textContent('#fault-form-error');
    assert.ok(shown.includes(error.message), `the panel shows "${shown}", the API said "${error.message}"`);
    assert.match(shown, /422/);
    assert.deepEqual((await api('/api/v1/faults')).rules, []);
    assert.equal(await page.locator('#faults-table tbody tr[data-key]').count(), 0);
});

test('a false_miscompare rule added in the panel makes ats-counter see miscompares; its hits count them', TEST, async () => {
    await page.fill('#fault-name', 'e2e-false-ats');
    await page.selectOption('#fault-action', 'false_miscompare');
    await page.selectOption('#fault-command', 'ats');
    await page.selectOption('#fault-target', TARGET);
    await page.fill('#fault-lun', '0');
    await page.fill('#fault-lba-first', String(LBA));
    await page.fill('#fault-lba-last', String(LBA));
    await page.fill('#fault-initiator', '*ats-counter*');
    await page.fill('#fault-probability', '1');
    await page.fill('#fault-every', '3');   // every 3rd ATS: the client always gets on
    await page.fill('#fault-max-hits', '0');
    await page.click('#fault-submit');
    await page.waitForFunction(() => /added rule #\d+/.test(document.querySelector('#fault-form-status').textContent), null, WAIT);
    assert.equal(await page.locator('#fault-form-error').isVisible(), false);
    const row = page.locator('#faults-table tbody tr[data-key]', { hasText: 'e2e-false-ats' });
    await row.waitFor(WAIT);
    ruleId = await row.getAttribute('data-key');
    assert.match(await row.textContent(), /false miscompare/);
    assert.match(await row.textContent(), /LUN 0 · LBA 1000 · initiator \*ats-counter\* · ATS/);
    assert.match(await row.textContent(), /every 3rd/);
    assert.equal(await row.locator('button.toggle').getAttribute('aria-pressed'), 'true');
    // The daemon has it as the form said.
    const rule = await api(`/api/v1/faults/${ruleId}`);
    assert.equal(rule.action, 'false_miscompare');
    assert.equal(rule.target, TARGET);
    assert.equal(rule.lun, 0);
    assert.equal(rule.lba_first, LBA);
    assert.equal(rule.lba_last, LBA);
    assert.equal(rule.initiator, '*ats-counter*');
    assert.equal(rule.every, 3);
    assert.equal(rule.hits, 0);

    const run = await runCounter();
    // A false miscompare writes nothing and the client retries: the count stays exact.
    assert.equal(run.code, 0, `ats-counter failed:\n${run.output}`);
    assert.ok(run.miscompares > 0, `ats-counter saw no miscompare:\n${run.output}`);
    assert.equal(run.successes, INCREMENTS);
    assert.equal(run.counter, INCREMENTS);
    injected = run.miscompares;
    // One session, so every miscompare it saw was the rule's: the panel's hits say exactly that,
    // and every ATS it sent was in the rule's scope.
    await waitCell(ruleId, 'hits', injected);
    await waitCell(ruleId, 'matched', INCREMENTS + injected);
    assert.ok(await cellNumber(ruleId, 'hits') > 0);
    // The injections are in the event log too.
    await page.locator('#events-table tbody tr.ev-fault', { hasText: 'e2e-false-ats' }).first().waitFor({ state: 'attached', ...WAIT });
    await page.evaluate(() => window.scrollTo(0, 0));  // the sticky bar stays at the top
    await page.screenshot({ path: SHOT, fullPage: true });
    console.log(`# screenshot: ${SHOT}`);
});

test('disabled in the panel, the rule injects nothing: no miscompare and an exact count', TEST, async () => {
    assert.ok(ruleId, 'the rule of the previous test');
    const toggle = page.locator(`${rowSel(ruleId)} button.toggle`);
    await toggle.click();
    await page.locator(`${rowSel(ruleId)} button.toggle[aria-pressed="false"]`).waitFor(WAIT);
    assert.match(await toggle.textContent(), /disabled/);
    assert.equal((await api(`/api/v1/faults/${ruleId}`)).enabled, false);

    const run = await runCounter();
    assert.equal(run.code, 0, `ats-counter failed:\n${run.output}`);
    assert.equal(run.miscompares, 0, run.output);
    assert.equal(run.successes, INCREMENTS);
    assert.equal(run.counter, INCREMENTS);
    // The rule saw nothing: its counters stand where the first run left them.
    const rule = await api(`/api/v1/faults/${ruleId}`);
    assert.equal(rule.hits, injected);
    assert.equal(rule.matched, INCREMENTS + injected);
    await waitCell(ruleId, 'hits', injected);
});

test('deleted in the panel, the rule is gone from the list and from the API', TEST, async () => {
    assert.ok(ruleId, 'the rule of the previous tests');
    await page.locator(`${rowSel(ruleId)} button.danger`).click();
    await page.waitForFunction(() => document.querySelectorAll('#faults-table tbody tr[data-key]').length === 0 &&
        document.querySelector('#faults-table tbody tr.empty') !== null, null, WAIT);
    assert.equal(await page.textContent('#faults-count'), '0');
    assert.deepEqual(await api('/api/v1/faults'), { enabled: true, rules: [] });
    assert.equal(await page.locator('#faults-status').isVisible(), false);
});

test('the page raised no script errors', async () => {
    assert.deepEqual(pageErrors, []);
});
