// The console's start-up and its one stream: the initial GETs (webui/API.md), then every update
// arrives as a WebSocket tick; the page never polls. The few GETs after start-up are the
// engineer's own (histogram refresh), the gap after a reconnect, and the hot blocks' images
// when a tick reports new miscompares (ticks carry counters, not images), at most every 3 s.
// Three exceptions: the fault rules' hit counts (not in ticks) are polled every 2 s while the
// config has injection on (faults.js), and so are the rbd LUNs' cluster views while the daemon
// has any (rbd.js), and the flight recorder's histories and the captures every 3 s (forensics.js,
// captures.js).
import { Api, Stream } from './api.js';
import { setText } from './dom.js';
import { fmtCount, fmtDuration, fmtRate, fmtRatio, fmtTime } from './format.js';
import { TickHistory, perSecond, tickSeconds } from './history.js';
import { renderTargets, renderSessions, renderBanner } from './overview.js';
import { AtsPanel } from './ats.js';
import { LatencyPanel } from './latency.js';
import { EventsPanel } from './events.js';
import { FaultsPanel } from './faults.js';
import { PathsPanel } from './paths.js';
import { RbdPanel } from './rbd.js';
import { ConfigPanel } from './config.js';
import { ForensicsPanel } from './forensics.js';
import { CapturesPanel } from './captures.js';

const $ = (sel) => document.querySelector(sel);

const api = new Api();
const atsHistory = new TickHistory(300);
const ats = new AtsPanel(atsHistory);
const latency = new LatencyPanel(api);
const events = new EventsPanel(api);
const faults = new FaultsPanel(api);
const paths = new PathsPanel(api);
const rbd = new RbdPanel(api);
const captures = new CapturesPanel(api);
const forensics = new ForensicsPanel(api, captures);
const config = new ConfigPanel(api, () => refreshTargets());
let lastTickTime = 0;
// For the browser tests: the charts' data (the ATS history) and panels, read only.
window.atsarrayConsole = { atsHistory, ats, latency, forensics, captures };

function renderOverview(o) {
    if (!o) {
        return;
    }
    setText($('#version'), o.version ? `v${o.version}` : '');
    setText($('#kpi-uptime'), fmtDuration(o.uptime_s));
    setText($('#kpi-targets'), fmtCount(o.targets));
    setText($('#kpi-luns'), fmtCount(o.luns));
    setText($('#kpi-sessions'), fmtCount(o.sessions));
    const a = o.ats ?? {};
    setText($('#kpi-successes'), fmtCount(a.successes));
    setText($('#kpi-miscompares'), fmtCount(a.miscompares));
    setText($('#kpi-ratio'), fmtRatio(a.miscompares ?? 0, (a.successes ?? 0) + (a.miscompares ?? 0)));
    setText($('#kpi-injected'), fmtCount(a.injected_miscompares));
    setText($('#kpi-errors'), fmtCount(a.errors));
}

function setConnection(state, detail) {
    const el = $('#conn');
    el.dataset.state = state;
    el.className = `conn ${state}`;
    if (state === 'live') {
        setText(el, '● live');
        el.title = 'receiving ticks over the WebSocket stream';
    } else if (state === 'connecting') {
        setText(el, 'connecting…');
    } else {
        setText(el, `stream down, retrying in ${Math.ceil(detail?.seconds ?? 1)} s`);
        el.title = detail?.reason ?? '';
        if (lastTickTime) {
            atsHistory.gap(Date.now() / 1000);
        }
    }
}

// GET /api/v1/ats again, at most every 3 s, trailing: for the hot blocks' last images.
let atsTimer = null;
let atsLast = 0;
function refreshAtsSoon() {
    if (atsTimer) {
        return;
    }
    const wait = Math.max(0, 3000 - (Date.now() - atsLast));
    atsTimer = setTimeout(async () => {
        atsLast = Date.now();
        try {
            ats.setAts(await api.get('/api/v1/ats'));
        } catch {
            // the next miscompare asks again
        }
        atsTimer = null;
    }, wait);
}

function onTick(tick) {
    const time = Date.parse(tick.time) / 1000 || Date.now() / 1000;
    lastTickTime = time;
    setText($('#last-tick'), `tick ${fmtTime(tick.time)}`);
    renderOverview(tick.overview);
    if (tick.sessions) {
        renderSessions(tick.sessions);
    }
    if (tick.paths) {
        paths.set(tick.paths);
    }
    atsHistory.push(time, AtsPanel.samples(tick));
    ats.onTick(tick);
    latency.onTick(tick, time);
    // The KPIs' rates: none ('—') from a tick without an interval (the first of a stream).
    const secs = tickSeconds(tick);
    let dSuc = 0;
    let dMis = 0;
    for (const l of tick.luns ?? []) {
        dSuc += l.d_successes ?? 0;
        dMis += l.d_miscompares ?? 0;
    }
    const newMiscompares = secs !== null && dMis > 0;
    setText($('#kpi-ats-rate'), fmtRate(perSecond(dSuc, secs)));
    setText($('#kpi-atsf-rate'), fmtRate(perSecond(dMis, secs)));
    events.add(tick.events);
    if ((tick.events ?? []).some((e) => e.kind === 'config')) {
        refreshTargetsSoon();
    }
    if (newMiscompares) {
        refreshAtsSoon();
    }
    // Charts redraw once per tick, and not at all in a hidden tab (the data still accumulates).
    if (!document.hidden) {
        ats.renderCharts();
        latency.renderChart();
    }
}

function setTargets(targets, portals) {
    renderTargets(targets, portals);
    ats.setTargets(targets);
    faults.setTargets(targets);
    captures.setTargets(targets);
    rbd.setTargets(targets);
    config.setTargets(targets, portals);
}

// The targets, LUNs and portals again: after a configuration change, the page's own or one a
// tick's "config" event reports (the CLI's, another page's).
let targetsTimer = null;
async function refreshTargets() {
    clearTimeout(targetsTimer);
    targetsTimer = null;
    const [targets, portals, overview] = await Promise.allSettled([
        api.get('/api/v1/targets'), api.get('/api/v1/portals'), api.get('/api/v1/overview')]);
    if (targets.status === 'fulfilled') {
        setTargets(targets.value, portals.status === 'fulfilled' ? portals.value : []);
    }
    if (overview.status === 'fulfilled') {
        renderOverview(overview.value);
    }
}
function refreshTargetsSoon() {
    if (!targetsTimer) {
        targetsTimer = setTimeout(() => refreshTargets().catch(() => null), 300);
    }
}

// Everything but the stream: at start, and again after the stream comes back.
async function loadAll() {
    const get = (path) => api.get(path);
    const [overview, targets, portals, sessions, atsNow, lat] = await Promise.allSettled([
        get('/api/v1/overview'), get('/api/v1/targets'), get('/api/v1/portals'),
        get('/api/v1/sessions'), get('/api/v1/ats'), get('/api/v1/latency'),
    ]);
    const failed = [overview, targets, portals, sessions, atsNow, lat].filter((r) => r.status === 'rejected');
    renderBanner(failed.length ? `could not load from the daemon: ${failed[0].reason.message}` : '');
    if (overview.status === 'fulfilled') {
        renderOverview(overview.value);
    }
    if (targets.status === 'fulfilled') {
        setTargets(targets.value, portals.status === 'fulfilled' ? portals.value : []);
    }
    if (sessions.status === 'fulfilled') {
        renderSessions(sessions.value);
    }
    if (atsNow.status === 'fulfilled') {
        ats.setAts(atsNow.value);
    }
    if (lat.status === 'fulfilled') {
        latency.setLatency(lat.value);
    }
}

async function start() {
    // The token is only needed for the lab note and the stream; a console bound beyond
    // loopback refuses to hand it out, which the banner then says.
    let tokenError = null;
    // Beyond loopback the daemon never hands its token out (403) and answers no data without it
    // (401): ask the engineer once; the token stays in this page's memory only.
    try {
        await api.fetchToken();
    } catch (e) {
        tokenError = e;
        if (e.status === 403) {
            const typed = window.prompt('This console is reachable beyond loopback: enter its access token ([console] token in the daemon\'s config)');
            if (typed) {
                api.token = typed.trim();
                tokenError = null;
            }
        }
    }
    await Promise.allSettled([loadAll(), events.load(0).catch(() => null), faults.load(), paths.load()]);
    if (tokenError && $('#banner').hidden) {
        renderBanner(`no access token from the daemon (${tokenError.message}): lab notes cannot be posted nor fault rules changed`);
    }
    const stream = new Stream(api, {
        onTick,
        onState: setConnection,
        onOpen: (reconnect) => {
            if (reconnect) {
                loadAll().catch(() => null);
                events.load(events.lastSeq).catch(() => null);
                faults.load().catch(() => null);
                paths.load().catch(() => null);
            }
        },
    });
    stream.start();
    forensics.start();
    window.addEventListener('pagehide', () => stream.stop());
    document.addEventListener('visibilitychange', () => {
        if (!document.hidden) {
            ats.renderCharts();
            latency.renderChart();
        }
    });
}

start();
