// End-to-end test of the console's Forensics panel (issue 16) in headless Chromium against the
// real daemon ($ATSARRAY_BINARY, its flight recorder on as by default) with a memory LUN, after
// tools/ats-counter ($ATS_COUNTER_BINARY) made ATS contention: three sessions, three initiator
// names, incrementing one counter block.
// - the miscompare list shows cause "contention" and names another initiator as the culprit, the
//   recorder's counters are shown;
// - a miscompare selected, its block's timeline shows one row per command in order with time,
//   command, initiator and path, ITT, outcome and cause; the arrow keys step through the rows and
//   the decoded images and byte diffs change with them; a refresh keeps the selected row;
// - the cause and initiator filters hide rows;
// - the Captures section (issue 16, capture and replay): a capture started from its form while
//   ats-counter runs, stopped from the page with its commands counted, its trace downloaded
//   through the page as JSON (as many commands as the row says) and as pcapng, a bad form
//   answered with the API's message, the capture deleted;
// - a daemon with [ats] recorder = false gets a sentence saying the recorder is off.
// Waits for DOM changes with generous timeouts and never asserts timings. Saves a screenshot of
// the panel (forensics-e2e.png) in $E2E_ARTIFACTS or the working directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchChromium, openPage, webuiDir } from './lib/browser.mjs';
import { endRun, startDaemonWith, startProcess, stopProcess } from './lib/processes.mjs';

const ARTIFACTS = process.env.E2E_ARTIFACTS ?? process.cwd();
const SHOT = path.join(ARTIFACTS, 'forensics-e2e.png');
const TARGET = 'iqn.2026-11.org.atsarray:e2e-forensics';
const HOSTS = 'iqn.2026-11.org.atsarray:e2e-forensics-host';  // ats-counter names them HOSTS-0..2
const LBA = 1000;
const WAIT = { timeout: 90_000 };
const TEST = { timeout: 300_000 };

let tmp = null;
let daemon = null;
let browser = null;
let page = null;
let base = '';
let portal = 0;
let token = '';
const pageErrors = [];

function lunConfig(extra = '') {
    return `${extra}
[[target]]
name = "${TARGET}"
alias = "e2e-forensics"

[[target.lun]]
id = 0
backend = "memory"
size = "64MiB"
block_size = 512
write_delay_us = 3000   # widens every ATS's window: the sessions contend
`;
}

function binaries() {
    const binary = process.env.ATSARRAY_BINARY;
    const counter = process.env.ATS_COUNTER_BINARY;
    assert.ok(binary && fs.existsSync(binary), `ATSARRAY_BINARY (${binary}) must name the built daemon`);
    assert.ok(counter && fs.existsSync(counter), `ATS_COUNTER_BINARY (${counter}) must name tools/ats-counter`);
    return { binary, counter };
}

async function startDaemon() {
    const { binary, counter } = binaries();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atsarray-e2e-forensics-'));
    const started = await startDaemonWith({
        binary, dir: tmp, staticDir: path.join(webuiDir, 'static'), writer: 'tests/e2e/forensics.test.mjs', rest: lunConfig(),
    });
    daemon = started.daemon;
    base = `http://127.0.0.1:${started.consolePort}`;
    portal = started.portal;
    token = started.token;
    // Three initiators incrementing one block: each reads it, then ATS; one wins each round and
    // the others miscompare (contention), the winner named as the culprit.
    const run = startProcess(counter, ['--portal', `127.0.0.1:${started.portal}`, '--target', TARGET, '--lba', String(LBA),
                                       '--sessions', '3', '--writers', '0', '--increments', '20', '--initiator-prefix', HOSTS]);
    assert.equal(await run.exited, 0, `ats-counter failed:\n${run.output}`);
}

const api = async (p) => (await fetch(base + p)).json();

// The selected timeline row: its key (the entry's seq), its cells' texts and the step detail's.
const travelState = () => page.evaluate(() => {
    const tr = document.querySelector('#forensics-timeline tbody tr.selected');
    const step = document.querySelector('#forensics-step');
    return {
        seq: tr?.dataset.key ?? null,
        cells: tr ? [...tr.children].map((td) => td.textContent) : [],
        head: step.querySelector('.step-head')?.textContent ?? '',
        fields: [...step.querySelectorAll('.version table.fields')].map((t) => [...t.querySelectorAll('tr')]
            .map((tr) => `${tr.children[0].textContent} ${tr.children[1].textContent}`).join(', ')).join(' | '),
        diff: [...step.querySelectorAll('.version .hexdiff')].map((d) => d.textContent).join(' | '),
        changed: step.querySelectorAll('.version .hexdiff .byte.diff').length,
        roles: [...step.querySelectorAll('.version')].map((v) => v.dataset.role),
    };
});
const timelineKeys = () => page.evaluate(() => [...document.querySelectorAll('#forensics-timeline tbody tr[data-key]')].map((tr) => Number(tr.dataset.key)));
const listCauses = () => page.evaluate(() => [...document.querySelectorAll('#forensics-miscompares tbody tr[data-key]')]
    .map((tr) => tr.querySelector('.tag.cause').dataset.cause));

before(async () => {
    await startDaemon();
    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
}, { timeout: 120_000 });

after(() => endRun({ browser, daemon, tmp, artifacts: ARTIFACTS, logName: 'forensics-e2e-daemon.log' }));

test('the miscompares show cause contention and another initiator as the culprit', TEST, async () => {
    await page.goto(base + '/');
    await page.locator('#conn[data-state="live"]').waitFor(WAIT);
    await page.click('nav a[href="#forensics"]');
    assert.match(page.url(), /#forensics$/);
    await page.locator('#forensics-miscompares tbody tr[data-key] .tag.cause[data-cause="contention"]').first().waitFor(WAIT);
    assert.equal(await page.locator('#forensics-off').isVisible(), false);

    const report = await api('/api/v1/forensics?limit=200');
    const contended = report.miscompares.filter((m) => m.cause === 'contention');
    assert.ok(contended.length > 0, JSON.stringify(report.stats));
    // Every contention row names a culprit other than the initiator that got the miscompare.
    const rows = await page.evaluate(() => [...document.querySelectorAll('#forensics-miscompares tbody tr[data-key]')]
        .filter((tr) => tr.querySelector('.tag.cause').dataset.cause === 'contention')
        .map((tr) => ({ key: tr.dataset.key, who: tr.children[3].textContent, culprit: tr.querySelector('.culprit')?.dataset.initiator ?? '',
                        culpritText: tr.querySelector('.culprit')?.textContent ?? '', explanation: tr.querySelector('td.msg').textContent })));
    assert.equal(rows.length, contended.length);
    for (const r of rows) {
        const host = /e2e-forensics-host-\d/.exec(r.who)?.[0];
        assert.ok(host, r.who);
        assert.match(r.culprit, new RegExp(`^${HOSTS}-\\d$`));
        assert.ok(!r.culprit.endsWith(host), `the culprit of ${r.key} is its own host: ${JSON.stringify(r)}`);
        assert.match(r.culpritText, /ATS 0x[0-9a-f]{8}/);
        assert.match(r.explanation, /^contention: /);
    }
    // The recorder's counters.
    const stat = (name) => page.locator(`#forensics-stats [data-stat="${name}"] .value`).textContent();
    assert.ok(Number((await stat('notes')).replace(/,/g, '')) > 0);
    assert.equal(await stat('dropped_notes'), '0');
    assert.match(await page.locator('#forensics-stats .cause-count[data-cause="contention"]').textContent(),
                 new RegExp(`contention ${report.stats.causes.contention.toLocaleString('en-US')}`));
    // The tracked block.
    await page.locator(`#forensics-blocks tbody tr[data-key="${TARGET}|0|${LBA}"]`).waitFor(WAIT);
});

test('a selected miscompare\'s block: its timeline walked with the arrow keys', TEST, async () => {
    const row = page.locator('#forensics-miscompares tbody tr[data-key]', { has: page.locator('.tag.cause[data-cause="contention"]') }).first();
    const seq = (await row.getAttribute('data-key')).split('|').pop();
    await row.click();
    await page.locator(`#forensics-timeline tbody tr.selected[data-key="${seq}"]`).waitFor(WAIT);
    assert.match(await page.locator('#forensics-travel-head').textContent(), new RegExp(`LBA ${LBA} of e2e-forensics/0`));

    // One row per command, in the recorder's order: the order the commands reached the medium
    // (their LBA locks), which is not always the order their notes came in (seq).
    const keys = await timelineKeys();
    const block = await api(`/api/v1/forensics/blocks/${encodeURIComponent(TARGET)}/0/${LBA}`);
    assert.deepEqual(keys, block.entries.map((e) => e.seq));

    // The miscompare's row: time, command, initiator and path, ITT, outcome, cause; its images
    // step by step, the on-disk one differing from the compared one.
    let s = await travelState();
    const entry = block.entries.find((e) => String(e.seq) === seq);
    assert.match(s.cells[1], /^\d\d:\d\d:\d\d\.\d{3}$/);
    assert.equal(s.cells[2], 'ATS');
    assert.ok(s.cells[3].includes(entry.origin.initiator_name.split(':').pop()), s.cells[3]);
    assert.ok(s.cells[3].includes(`${entry.origin.address} · port ${entry.origin.relative_target_port}`), s.cells[3]);
    assert.equal(s.cells[4], `0x${entry.itt.toString(16).padStart(8, '0')}`);
    assert.equal(s.cells[5], 'miscompare');
    assert.equal(s.cells[6], 'contention');
    assert.deepEqual(s.roles, ['compare', 'on_disk', 'set']);
    assert.match(s.fields, /^counter \d+ \| counter \d+ \| counter \d+$/);
    assert.ok(s.changed > 0, 'the on-disk image differs from the compared one');
    assert.match(await page.locator('#forensics-step .explanation').textContent(), /^contention: /);
    assert.equal(await page.locator('#forensics-miscompares tbody tr.selected').getAttribute('data-key'), await row.getAttribute('data-key'));

    // Left arrow: one row back each time, until the images read differently.
    await page.locator('#forensics-travel').focus();
    const start = keys.indexOf(Number(seq));
    const seen = [s];
    for (let i = start - 1; i >= Math.max(0, start - 12); i--) {
        await page.keyboard.press('ArrowLeft');
        await page.locator(`#forensics-timeline tbody tr.selected[data-key="${keys[i]}"]`).waitFor(WAIT);
        s = await travelState();
        assert.equal(s.seq, String(keys[i]));
        assert.match(s.head, new RegExp(`^row ${i + 1} of ${keys.length}: `));
        assert.match(s.cells[2], /^(ATS|READ|WRITE)$/);
        assert.match(s.cells[5], /^(good|miscompare)/);
        seen.push(s);
    }
    assert.ok(seen.length > 2, `the miscompare is row ${start + 1}: too few rows before it to walk`);
    assert.ok(new Set(seen.map((x) => x.fields)).size > 1, `the decoded fields never changed: ${seen.map((x) => x.fields)}`);
    assert.ok(new Set(seen.map((x) => x.diff)).size > 1, 'the byte diffs never changed');
    // Right arrow: forward again, back to the miscompare.
    for (let i = 0; i < seen.length - 1; i++) {
        await page.keyboard.press('ArrowRight');
    }
    await page.locator(`#forensics-timeline tbody tr.selected[data-key="${seq}"]`).waitFor(WAIT);
    assert.deepEqual((await travelState()).fields, seen[0].fields);

    // Two refreshes later the same row is still selected.
    const polls = await page.evaluate(() => window.atsarrayConsole.forensics.polls);
    await page.waitForFunction((p) => window.atsarrayConsole.forensics.polls >= p + 2, polls, WAIT);
    assert.equal((await travelState()).seq, seq);
    // The picture: the panel without the page's sticky bar over it, its lists scrolled home.
    await page.addStyleTag({ content: '.topbar { position: static; }' });
    await page.evaluate(() => document.querySelectorAll('#forensics .scroll-x').forEach((b) => { b.scrollLeft = 0; }));
    await page.locator('#forensics').screenshot({ path: SHOT });
});

test('the cause and initiator filters hide rows', TEST, async () => {
    const all = await page.locator('#forensics-miscompares tbody tr[data-key]').count();
    assert.ok(all > 0);
    await page.selectOption('#forensics-filter-cause', 'late_retry');
    await page.locator('#forensics-miscompares tbody tr.empty', { hasText: 'no miscompare matches the filters' }).waitFor(WAIT);
    assert.equal(await page.locator('#forensics-miscompares tbody tr[data-key]').count(), 0);
    await page.selectOption('#forensics-filter-cause', 'contention');
    const causes = await listCauses();
    assert.ok(causes.length > 0 && causes.every((c) => c === 'contention'), String(causes));
    assert.match(await page.locator('#forensics-count').textContent(), new RegExp(`^${causes.length} of ${all}$`));
    await page.selectOption('#forensics-filter-cause', '');
    assert.equal(await page.locator('#forensics-miscompares tbody tr[data-key]').count(), all);
    // The initiator filter: rows where host-0 got the miscompare or was the culprit.
    await page.fill('#forensics-filter-initiator', 'E2E-FORENSICS-HOST-0');
    const texts = await page.evaluate(() => [...document.querySelectorAll('#forensics-miscompares tbody tr[data-key]')]
        .map((tr) => tr.children[3].textContent + ' ' + (tr.querySelector('.culprit')?.dataset.initiator ?? '')));
    // As many as the API's miscompares that involve host-0 (all of them, in a run where host-0
    // took part in every round: three hosts, a few dozen miscompares).
    const involved = (await api('/api/v1/forensics')).miscompares.filter((m) =>
        [m.origin?.initiator_name, m.culprit?.origin?.initiator_name].some((n) => (n ?? '').includes('e2e-forensics-host-0'))).length;
    assert.ok(texts.length > 0 && texts.length === involved, `${texts.length} of ${all}, ${involved} involve host-0`);
    assert.ok(texts.every((t) => t.includes('e2e-forensics-host-0')), texts.join('\n'));
    await page.fill('#forensics-filter-initiator', 'no-such-host');
    assert.equal(await page.locator('#forensics-miscompares tbody tr[data-key]').count(), 0);
    await page.fill('#forensics-filter-initiator', '');
    // The last minute: the workload ran just now.
    await page.fill('#forensics-filter-minutes', '60');
    assert.equal(await page.locator('#forensics-miscompares tbody tr[data-key]').count(), all);
    await page.fill('#forensics-filter-minutes', '');
    assert.deepEqual(pageErrors, []);
});

// A capture of the whole target while a little load runs: the form, the row, Stop, the two
// downloads (followed by the page with the token, saved from a Blob), a refused form, Delete.
test('a capture started, stopped, downloaded and deleted from the page', TEST, async () => {
    const { counter } = binaries();
    const traceRequests = [];
    page.on('request', (r) => {
        if (r.url().includes('/trace?')) {
            traceRequests.push(r);
        }
    });
    await page.locator('#captures-on').waitFor({ state: 'visible', ...WAIT });
    await page.locator(`#capture-target option[value="${TARGET}"]`).waitFor({ state: 'attached', ...WAIT });
    assert.equal(await page.locator('#captures-table tbody tr.capture-row').count(), 0);
    await page.selectOption('#capture-target', TARGET);
    await page.fill('#capture-max-seconds', '300');
    await page.click('#capture-start');
    await page.waitForFunction(() => /^started capture c\d+ of e2e-forensics$/.test(document.querySelector('#capture-form-status').textContent), null, WAIT);
    const id = /c\d+/.exec(await page.locator('#capture-form-status').textContent())[0];
    const row = page.locator(`#captures-table tbody tr.capture-row[data-id="${id}"]`);
    const cell = (name) => row.locator(`td.${name}`).textContent();
    await row.locator('td.state', { hasText: /^running$/ }).waitFor(WAIT);
    assert.deepEqual([await cell('target'), await cell('lun'), await cell('initiator')], ['e2e-forensics', 'all', 'any']);
    assert.equal(await page.locator('#capture-form-error').isVisible(), false);

    // A little load on another block: two sessions incrementing it.
    const run = startProcess(counter, ['--portal', `127.0.0.1:${portal}`, '--target', TARGET, '--lba', String(LBA + 1000),
                                       '--sessions', '2', '--writers', '0', '--increments', '10', '--initiator-prefix', 'iqn.2026-11.org.atsarray:e2e-capture-host']);
    assert.equal(await run.exited, 0, `ats-counter failed:\n${run.output}`);
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.textContent.replace(/,/g, '')) > 0,
                               `#captures-table tr.capture-row[data-id="${id}"] td.commands`, WAIT);

    // Stopped from the page: the row says so and counts its commands, as the API does.
    await row.locator('button.stop').click();
    await row.locator('td.state', { hasText: /^stopped \(by request\)$/ }).waitFor(WAIT);
    assert.equal(await row.locator('button.stop').isVisible(), false);
    const commands = Number((await cell('commands')).replace(/,/g, ''));
    assert.ok(commands > 0);
    const info = await api(`/api/v1/captures/${id}`);
    assert.equal(info.running, false);
    assert.equal(info.commands, commands);
    assert.ok(info.sessions >= 2, JSON.stringify(info));

    // The JSON trace through the page: as many commands as the row says.
    const [json] = await Promise.all([page.waitForEvent('download', WAIT), row.locator('a.download[data-format="json"]').click()]);
    assert.equal(json.suggestedFilename(), `atsarray-${id}-e2e-forensics.trace.json`);
    const trace = JSON.parse(fs.readFileSync(await json.path(), 'utf8'));
    assert.equal(trace.format, 'atsarray-trace');
    assert.equal(trace.id, id);
    assert.equal(trace.target, TARGET);
    assert.equal(trace.commands.length, commands);
    // The pcapng: a Section Header Block first.
    const [pcap] = await Promise.all([page.waitForEvent('download', WAIT), row.locator('a.download[data-format="pcapng"]').click()]);
    assert.equal(pcap.suggestedFilename(), `atsarray-${id}-e2e-forensics.pcapng`);
    assert.deepEqual([...fs.readFileSync(await pcap.path()).subarray(0, 4)], [0x0a, 0x0d, 0x0d, 0x0a]);
    // Both went out with the token as a header, never in the URL.
    assert.equal(traceRequests.length, 2);
    for (const r of traceRequests) {
        assert.equal((await r.allHeaders()).authorization, `Bearer ${token}`);
        assert.ok(!r.url().includes(token), r.url());
    }

    // A bad form: the API's message next to it, no capture added.
    await page.fill('#capture-max-mib', '5000');
    await page.click('#capture-start');
    await page.locator('#capture-form-error').waitFor({ state: 'visible', ...WAIT });
    const refused = await fetch(`${base}/api/v1/captures`, {
        method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ target: TARGET, max_mib: 5000, max_seconds: 300 }) });
    assert.equal(refused.status, 400);
    const { error } = await refused.json();
    assert.match(error.message, /^max_mib: /);
    assert.equal(await page.locator('#capture-form-error').textContent(), `capture not started (400): ${error.message}`);
    assert.equal((await api('/api/v1/captures')).captures.length, 1);
    await page.fill('#capture-max-mib', '');

    // Deleted: the row goes, and so does the capture.
    await row.locator('button.delete').click();
    await row.waitFor({ state: 'detached', ...WAIT });
    assert.deepEqual((await api('/api/v1/captures')).captures, []);
    await page.locator('#captures-table tbody tr.empty').waitFor(WAIT);
    assert.equal(await page.locator('#captures-count').textContent(), '0 of 4');
    assert.deepEqual(pageErrors, []);
});

test('a daemon with the recorder off: the panel says so', TEST, async () => {
    const { binary } = binaries();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atsarray-e2e-forensics-off-'));
    try {
        const off = await startDaemonWith({
            binary, dir, staticDir: path.join(webuiDir, 'static'), writer: 'tests/e2e/forensics.test.mjs (recorder off)',
            rest: lunConfig('\n[ats]\nrecorder = false\n'),
        });
        try {
            const r = await fetch(`http://127.0.0.1:${off.consolePort}/api/v1/forensics`);
            assert.equal(r.status, 404);
            const other = await openPage(browser, pageErrors);
            await other.goto(`http://127.0.0.1:${off.consolePort}/#forensics`);
            await other.locator('#forensics-off').waitFor({ state: 'visible', ...WAIT });
            assert.match(await other.locator('#forensics-off').textContent(), /The flight recorder is off[\s\S]*flight recorder is off/);
            assert.equal(await other.locator('#forensics-on').isVisible(), false);
            await other.close();
        } finally {
            await stopProcess(off.daemon);
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(pageErrors, []);
});
