// End-to-end test of the console's Paths view (issue 14) and of ended sessions leaving the
// per-initiator tables and chart legends (issue 19), in headless Chromium against the real daemon
// ($ATSARRAY_BINARY) with two target port groups (controller-a on the first portal,
// active/optimized; controller-b on a second portal, active/non-optimized) and
// [console] keep_ended_sessions_s = 4, driven by the real libiscsi client tools/ats-counter
// ($ATS_COUNTER_BINARY):
// - the Paths view lists both groups with their states and portals, and the Overview's portals
//   (issue 19) each portal in its group, the groups offered for a new portal;
// - a group's state changed with the page's control reaches the daemon (GET port-groups, STATUS
//   CODE altered by implicit behavior) and shows as an "alua" event (before any host logs in:
//   ats-counter ends on the unit attention a change gives every I_T nexus);
// - an alua_state path fault added in the fault panel moves a group, and back when deleted;
// - a live host's session shows under the group of the portal it logged in on;
// - a host whose sessions ended leaves the ATS and latency tables, both chart legends and the
//   Paths view a few seconds later, while a live host stays;
// - a host that reconnects (a new ISID, so a new initiator port, each time) has one live row,
//   listed before its ended ones, and only the live one after keep_ended_sessions_s (issue 19).
// Waits for DOM changes with generous timeouts and never asserts timings. Saves a screenshot
// (paths-e2e.png) in $E2E_ARTIFACTS or the working directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchChromium, openPage, webuiDir } from './lib/browser.mjs';
import { endRun, freePort, startDaemonWith, startProcess, stopProcess } from './lib/processes.mjs';

const ARTIFACTS = process.env.E2E_ARTIFACTS ?? process.cwd();
const SHOT = path.join(ARTIFACTS, 'paths-e2e.png');
const TARGET = 'iqn.2026-11.org.atsarray:e2e-paths';
const LIVE = 'iqn.2026-11.org.atsarray:e2e-live';    // a host that stays (ats-counter, long run)
const ENDED = 'iqn.2026-11.org.atsarray:e2e-ended';  // a host that logs out
const WAIT = { timeout: 90_000 };
const TEST = { timeout: 300_000 };

let tmp = null;
let daemon = null;
let browser = null;
let page = null;
let base = '';
let portalA = 0;
let portalB = 0;
let token = '';
let live = null;
const pageErrors = [];

async function startDaemon() {
    const binary = process.env.ATSARRAY_BINARY;
    assert.ok(binary && fs.existsSync(binary), `ATSARRAY_BINARY (${binary}) must name the built daemon`);
    assert.ok(process.env.ATS_COUNTER_BINARY && fs.existsSync(process.env.ATS_COUNTER_BINARY),
              `ATS_COUNTER_BINARY (${process.env.ATS_COUNTER_BINARY}) must name tools/ats-counter`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atsarray-e2e-paths-'));
    portalB = await freePort();
    // startDaemonWith writes the first portal and [console]; `rest` goes on inside [console].
    const started = await startDaemonWith({
        binary, dir: tmp, staticDir: path.join(webuiDir, 'static'), writer: 'tests/e2e/paths.test.mjs',
        rest: `keep_ended_sessions_s = 4

[[portal]]
address = "127.0.0.1"
port = ${portalB}

[[target_port_group]]
id = 1
name = "controller-a"
portals = ["127.0.0.1:@PORTAL@"]
state = "active_optimized"
preferred = true

[[target_port_group]]
id = 2
name = "controller-b"
portals = ["127.0.0.1:${portalB}"]
state = "active_non_optimized"

[fault]
enabled = true   # no rules: the fault panel adds a path fault

[[target]]
name = "${TARGET}"
alias = "e2e-paths"

[[target.lun]]
id = 0
backend = "memory"
size = "64MiB"
block_size = 512
`,
    });
    ({ daemon, token } = started);
    portalA = started.portal;
    base = `http://127.0.0.1:${started.consolePort}`;
}

function counter(portal, prefix, increments, lba) {
    return startProcess(process.env.ATS_COUNTER_BINARY, [
        '--portal', `127.0.0.1:${portal}`, '--target', TARGET, '--lba', String(lba),
        '--sessions', '1', '--writers', '0', '--increments', String(increments),
        '--initiator-prefix', prefix]);
}

const api = async (p) => (await fetch(base + p)).json();
const short = (iqn) => iqn.slice(iqn.lastIndexOf(':') + 1);

// The labels of a uPlot chart's legend.
const legend = (sel) => page.locator(`${sel} .u-legend .u-series th`).allTextContents();

before(async () => {
    await startDaemon();
    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
}, { timeout: 120_000 });

after(() => endRun({ browser, daemon, tmp, artifacts: ARTIFACTS, logName: 'paths-e2e-daemon.log' }));

test('the Paths view shows both target port groups with their states and portals', TEST, async () => {
    await page.goto(base + '/');
    await page.locator('#conn[data-state="live"]').waitFor(WAIT);
    const rows = page.locator('#port-groups-table tbody tr[data-key]');
    await page.waitForFunction(() => document.querySelectorAll('#port-groups-table tbody tr[data-key]').length === 2, null, WAIT);
    const a = rows.nth(0);
    const b = rows.nth(1);
    assert.match(await a.textContent(), /controller-a \(preferred\)/);
    assert.equal(await a.locator('.group-state').getAttribute('data-state'), 'active_optimized');
    assert.match(await a.textContent(), new RegExp(`127\\.0\\.0\\.1:${portalA}`));
    assert.match(await b.textContent(), /controller-b/);
    assert.equal(await b.locator('.group-state').getAttribute('data-state'), 'active_non_optimized');
    assert.match(await b.textContent(), new RegExp(`127\\.0\\.0\\.1:${portalB}`));
    // The Overview's portals list each portal in its group, which a new portal is added to (issue 19).
    for (const [port, group] of [[portalA, /1 \(controller-a\)/], [portalB, /2 \(controller-b\)/]]) {
        await page.locator(`#portals-table tbody tr[data-key="127.0.0.1:${port}"]`, { hasText: group }).waitFor(WAIT);
    }
    assert.deepEqual(await page.locator('#portal-group option').allTextContents(), ['1 (controller-a)', '2 (controller-b)']);
    assert.equal(await page.locator('#portal-group-label').isVisible(), true);
});

test('a group\'s state set from the page reaches the daemon and is an event', TEST, async () => {
    const form = page.locator(`#port-groups-table form.group-form[data-group="1"]`);
    await form.locator('select').selectOption('standby');
    await form.locator('button').click();
    await page.locator('#port-groups-table tbody tr[data-key$="|1"] .group-state[data-state="standby"]').waitFor(WAIT);
    const g = await api(`/api/v1/targets/${encodeURIComponent(TARGET)}/port-groups/1`);
    assert.equal(g.state, 'standby');
    assert.equal(g.status, 'altered_by_implicit_behavior');
    assert.equal(g.status_code, 2);
    await page.locator('#events-table tbody tr.ev-alua', { hasText: 'console: target port group 1' }).first().waitFor(WAIT);
    // And back, through transitioning for a moment.
    await form.locator('select').selectOption('active_optimized');
    await form.locator('input.group-transition').fill('1500');
    await form.locator('button').click();
    await page.locator('#port-groups-table tbody tr[data-key$="|1"] .group-state[data-state="active_optimized"]').waitFor(WAIT);
    const back = await api(`/api/v1/targets/${encodeURIComponent(TARGET)}/port-groups/1`);
    assert.equal(back.state, 'active_optimized');
    assert.equal(await page.locator('#paths-error').isVisible(), false);
});

test('a path fault added in the fault panel moves the group; deleted, the group is back', TEST, async () => {
    await page.locator('#fault-form').waitFor({ state: 'visible', ...WAIT });
    await page.fill('#fault-name', 'e2e-controller-b-standby');
    await page.selectOption('#fault-action', 'alua_state');
    await page.locator('#fault-group').waitFor({ state: 'visible', ...WAIT });
    assert.equal(await page.locator('#fault-period-ms').isVisible(), false, 'alua_flap\'s period is not shown for alua_state');
    await page.fill('#fault-group', '2');
    await page.selectOption('#fault-alua-state', 'standby');
    await page.click('#fault-submit');
    await page.waitForFunction(() => /added rule #\d+/.test(document.querySelector('#fault-form-status').textContent), null, WAIT);
    assert.equal(await page.locator('#fault-form-error').isVisible(), false, await page.locator('#fault-form-error').textContent());
    const row = page.locator('#faults-table tbody tr[data-key]', { hasText: 'e2e-controller-b-standby' });
    await row.waitFor(WAIT);
    assert.match(await row.textContent(), /ALUA standby/);
    assert.match(await row.textContent(), /group 2/);
    const rule = (await api('/api/v1/faults')).rules.find((r) => r.name === 'e2e-controller-b-standby');
    assert.equal(rule.action, 'alua_state');
    assert.equal(rule.group, 2);
    assert.equal(rule.state, 'standby');
    await page.locator('#port-groups-table tbody tr[data-key$="|2"] .group-state[data-state="standby"]').waitFor(WAIT);
    await row.locator('button.danger').click();
    await page.locator('#port-groups-table tbody tr[data-key$="|2"] .group-state[data-state="active_non_optimized"]').waitFor(WAIT);
    assert.deepEqual((await api('/api/v1/faults')).rules, []);
});

test('a live host\'s session shows under the group of its portal', TEST, async () => {
    live = counter(portalB, LIVE, 10_000_000, 1000);
    const sel = `#paths-table tbody tr.path[data-initiator="${LIVE}-0"][data-group="2"]`;
    await page.locator(sel).first().waitFor(WAIT);
    const text = await page.locator(sel).first().textContent();
    assert.match(text, new RegExp(`127\\.0\\.0\\.1:${portalB}`));
    assert.match(text, /controller-b/);
    // Its other group is listed too, without a session.
    await page.locator(`#paths-table tbody tr.no-session[data-initiator="${LIVE}-0"][data-group="1"]`).waitFor(WAIT);
    const paths = await api('/api/v1/paths');
    const who = paths.initiators.find((i) => i.initiator_name === `${LIVE}-0`);
    assert.ok(who, JSON.stringify(paths));
    const onB = who.paths.find((p) => p.group === 2);
    assert.equal(onB.sessions.length, 1);
    assert.equal(onB.sessions[0].portal, `127.0.0.1:${portalB}`);
});

test('a host whose sessions ended leaves the tables and chart legends, a live one stays', TEST, async () => {
    const ended = counter(portalA, ENDED, 200, 2000);
    const endedName = `${ENDED}-0`;
    const atsRow = `#ats-initiators-table tbody tr[data-key^="${endedName},i,"]`;
    const latRow = `#latency-table tbody tr[data-key^="${endedName},i,"]`;
    await page.locator(atsRow).first().waitFor(WAIT);
    await page.locator(latRow).first().waitFor(WAIT);
    const code = await ended.exited;
    assert.equal(code, 0, ended.output);
    // While it is listed, its legend entries are there.
    await page.waitForFunction((name) => [...document.querySelectorAll('#chart-ats-initiators .u-legend .u-series th')]
        .some((th) => th.textContent.includes(name)), short(endedName), WAIT);
    // Ended: it leaves everything within keep_ended_sessions_s and a tick.
    await page.locator(atsRow).first().waitFor({ state: 'detached', ...WAIT });
    await page.locator(latRow).first().waitFor({ state: 'detached', ...WAIT });
    await page.locator(`#paths-table tbody tr[data-initiator="${endedName}"]`).first().waitFor({ state: 'detached', ...WAIT });
    await page.waitForTimeout(1500);  // two more ticks: the charts redraw on each
    for (const chart of ['#chart-ats-initiators', '#chart-latency']) {
        const labels = await legend(chart);
        assert.ok(!labels.some((l) => l.includes(short(endedName))), `${chart} legend still lists ${endedName}: ${labels}`);
    }
    // The live host stays everywhere.
    assert.equal(live.exitCode, null, `the live host's ats-counter ended early:\n${live.output}`);
    await page.locator(`#ats-initiators-table tbody tr[data-key^="${LIVE}-0,i,"]`).first().waitFor(WAIT);
    await page.locator(`#latency-table tbody tr[data-key^="${LIVE}-0,i,"]`).first().waitFor(WAIT);
    assert.ok((await legend('#chart-ats-initiators')).some((l) => l.includes(short(`${LIVE}-0`))));
    assert.ok((await page.locator(`#paths-table tbody tr.path[data-initiator="${LIVE}-0"]`).count()) > 0);
    await page.screenshot({ path: SHOT, fullPage: true });
    assert.deepEqual(pageErrors, []);
});

test('a host that reconnects keeps one live row, listed first; its ended ones leave', TEST, async () => {
    const prefix = 'iqn.2026-11.org.atsarray:e2e-again';
    const name = `${prefix}-0`;
    // Two sessions that end, then one that stays: three logins of one initiator name, each with
    // libiscsi's own ISID.
    for (let i = 0; i < 2; i++) {
        const run = counter(portalA, prefix, 20, 3000);
        assert.equal(await run.exited, 0, run.output);
    }
    const again = counter(portalA, prefix, 10_000_000, 3000);
    const rows = (table) => page.evaluate((t) => [...document.querySelectorAll(`${t} tbody tr[data-key]`)]
        .map((tr) => ({ key: tr.dataset.key, ended: tr.classList.contains('ended') })), table);
    try {
        await page.waitForFunction((n) => [...document.querySelectorAll('#ats-initiators-table tbody tr[data-key]')]
            .some((tr) => tr.dataset.key.startsWith(`${n},i,`) && !tr.classList.contains('ended')), name, WAIT);
        for (const table of ['#ats-initiators-table', '#latency-table']) {
            const list = await rows(table);
            const mine = list.filter((r) => r.key.startsWith(`${name},i,`));
            assert.equal(mine.filter((r) => !r.ended).length, 1, `${table}: ${JSON.stringify(list)}`);
            assert.ok(mine.length <= 3, `${table}: ${JSON.stringify(list)}`);
            const firstEnded = list.findIndex((r) => r.ended);
            assert.ok(firstEnded < 0 || list.slice(firstEnded).every((r) => r.ended), `${table}: a live host below an ended one: ${JSON.stringify(list)}`);
        }
        // keep_ended_sessions_s = 4: then the live row alone.
        for (const table of ['#ats-initiators-table', '#latency-table']) {
            await page.waitForFunction(([t, n]) => {
                const mine = [...document.querySelectorAll(`${t} tbody tr[data-key]`)].filter((tr) => tr.dataset.key.startsWith(`${n},i,`));
                return mine.length === 1 && !mine[0].classList.contains('ended');
            }, [table, name], WAIT);
        }
        await page.waitForTimeout(1500);  // two more ticks: the charts redraw on each
        const labels = (await legend('#chart-ats-initiators')).filter((l) => l.includes(short(name)) && /ATS\/s$/.test(l));
        assert.equal(labels.length, 1, `legend: ${labels}`);
        assert.equal(again.exitCode, null, again.output);
    } finally {
        await stopProcess(again);
    }
    assert.deepEqual(pageErrors, []);
});
