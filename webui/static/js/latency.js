// Latency panel: p50/p99/p99.9 per initiator over time (from the ticks), the figures of the last
// tick per initiator and operation, and the histogram of one initiator and operation (GET
// /api/v1/latency, fetched when the engineer asks for it).
import { updateRows, setText, h } from './dom.js';
import { fmtUs, fmtRate, fmtCount } from './format.js';
import { initiatorLabel, liveFirst } from './labels.js';
import { TimeChart } from './charts.js';
import { TickHistory, perSecond, tickSeconds } from './history.js';

const $ = (sel) => document.querySelector(sel);
const OPS = ['ats', 'read', 'write'];
const PCTS = [['p50', 'p50_us', 'p50'], ['p99', 'p99_us', 'p99'], ['p999', 'p999_us', 'p99.9']];

export class LatencyPanel {
    constructor(api) {
        this.api = api;
        this.history = new TickHistory(300);  // keys `${port}|${op}|${pct}`
        this.initiators = new Map();          // port -> last tick entry
        this.last = new Map();                // `${port}|${op}` -> last tick figures with commands
        this.chart = new TimeChart($('#chart-latency'), { yLabel: 'latency', format: (v) => fmtUs(v), minMax: 100, axisSize: 76 });
        this.latency = [];                    // GET /api/v1/latency
        for (const id of ['#lat-op', '#lat-initiator', '#lat-pct']) {
            $(id).addEventListener('change', () => this.renderChart());
        }
        $('#hist-initiator').addEventListener('change', () => this.refreshHistogram());
        $('#hist-op').addEventListener('change', () => this.renderHistogram());
        $('#hist-refresh').addEventListener('click', () => this.refreshHistogram());
    }

    onTick(tick, time) {
        const secs = tickSeconds(tick);  // null: a first tick, no rate and no percentiles
        const values = {};
        // Only the ports the tick lists (a session now, or one that ended less than [console]
        // keep_ended_sessions_s ago) stay in the table, the chart and its initiator choice.
        const inis = liveFirst(tick.initiators ?? []);
        const listed = new Set(inis.map((i) => i.initiator_port));
        for (const port of [...this.initiators.keys()]) {
            if (!listed.has(port)) {
                this.initiators.delete(port);
            }
        }
        for (const i of inis) {
            this.initiators.set(i.initiator_port, i);
            for (const op of OPS) {
                const o = i.ops?.[op];
                const busy = secs !== null && o && (o.d_commands ?? 0) > 0;
                for (const [pct, field] of PCTS) {
                    values[`${i.initiator_port}|${op}|${pct}`] = busy ? o[field] : null;
                }
            }
        }
        this.history.push(time, values);
        const rows = inis.map((i) => {
            const cells = [
                { text: `${initiatorLabel(i, inis)}${i.live === false ? ' (ended)' : ''}`, class: 'mono', title: i.initiator_port },
                { text: i.address ?? '', class: 'mono' },
            ];
            for (const op of OPS) {
                const o = i.ops?.[op];
                const busy = secs !== null && o && (o.d_commands ?? 0) > 0;
                cells.push({ text: secs === null ? '—' : busy ? fmtRate(perSecond(o.d_commands, secs)) : '0', class: 'num' });
                for (const [, field] of PCTS) {
                    cells.push({ text: busy ? fmtUs(o[field]) : '—', class: busy ? 'num lat' : 'num muted' });
                }
            }
            return [i.initiator_port, cells, i.live === false ? 'ended' : ''];
        });
        updateRows($('#latency-table tbody'), rows, 'no initiator has sent commands yet', 14);
        this.syncInitiatorSelects();
    }

    syncInitiatorSelects() {
        const all = [...this.initiators.values()];
        for (const l of this.latency) {
            if (!this.initiators.has(l.initiator_port)) {
                all.push(l);
            }
        }
        // The chart's choice lists the listed ports only; the histogram's (since the daemon
        // started) every port GET /latency knows.
        const latSelect = $('#lat-initiator');
        for (const o of [...latSelect.options]) {
            if (o.value !== '' && !this.initiators.has(o.value)) {
                if (latSelect.value === o.value) {
                    latSelect.value = '';
                }
                o.remove();
            }
        }
        for (const [sel, keepFirst] of [['#lat-initiator', true], ['#hist-initiator', false]]) {
            const select = $(sel);
            const candidates = keepFirst ? [...this.initiators.values()] : all;
            const have = new Set([...select.options].map((o) => o.value));
            for (const i of candidates) {
                if (!have.has(i.initiator_port)) {
                    const label = `${initiatorLabel(i, all)} (${i.address ?? ''})`;
                    select.append(h('option', { value: i.initiator_port, dataset: { label } }, label));
                }
            }
            if (!keepFirst) {
                this.orderHistogramChoice(select);
            }
            if (!keepFirst && select.value === '' && select.options.length > 0) {
                select.value = select.options[0].value;
            }
        }
    }

    // The histogram's choice keeps every port GET /latency knows, one more per reconnect (a new
    // ISID): ports with a session first, the others after them marked "ended" (issue 19).
    orderHistogramChoice(select) {
        const live = (o) => {
            const i = this.initiators.get(o.value);
            return i !== undefined && i.live !== false;
        };
        liveFirst([...select.options], live).forEach((o, k) => {
            const text = live(o) ? o.dataset.label : `${o.dataset.label} ended`;
            if (o.textContent !== text) {
                o.textContent = text;
            }
            if (select.options[k] !== o) {
                select.insertBefore(o, select.options[k]);
            }
        });
    }

    renderChart() {
        const op = $('#lat-op').value;
        const one = $('#lat-initiator').value;
        const pct = $('#lat-pct').value;
        const all = [...this.initiators.values()];
        const series = [];
        const cols = [];
        const ports = one ? [one] : liveFirst([...this.initiators.keys()].sort(), (port) => this.initiators.get(port)?.live !== false);
        for (const port of ports) {
            const i = this.initiators.get(port);
            const label = i ? `${initiatorLabel(i, all)}${i.live === false ? ' (ended)' : ''}` : port;
            const wanted = one ? PCTS : PCTS.filter(([p]) => p === pct);
            for (const [p, , name] of wanted) {
                series.push({ key: `${port}|${op}|${p}`, label: `${label} ${name}`, group: one ? `${port}|${p}` : port, dash: p === 'p999', width: p === 'p50' ? 1 : 1.5 });
                cols.push(this.history.values(`${port}|${op}|${p}`));
            }
        }
        this.chart.update(this.history.times, series, cols);
    }

    setLatency(list) {
        this.latency = list ?? [];
        this.syncInitiatorSelects();
        this.renderHistogram();
    }

    async refreshHistogram() {
        try {
            this.setLatency(await this.api.get('/api/v1/latency'));
        } catch (e) {
            setText($('#hist-summary'), `cannot load: ${e.message}`);
        }
    }

    renderHistogram() {
        const port = $('#hist-initiator').value;
        const op = $('#hist-op').value;
        const box = $('#histogram');
        const entry = this.latency.find((l) => l.initiator_port === port);
        const o = entry?.ops?.[op];
        if (!o || !(o.buckets ?? []).length) {
            box.replaceChildren(h('p', { class: 'muted' }, entry ? `no ${op} commands from this initiator` : 'choose an initiator'));
            setText($('#hist-summary'), '');
            return;
        }
        const lat = o.latency ?? {};
        setText($('#hist-summary'),
            `${fmtCount(o.commands)} commands, ${fmtCount(o.errors)} errors · mean ${fmtUs(lat.mean_us)} · p50 ${fmtUs(lat.p50_us)} · p99 ${fmtUs(lat.p99_us)} · p99.9 ${fmtUs(lat.p999_us)} · max ${fmtUs(lat.max_us)}`);
        const buckets = [...o.buckets].sort((a, b) => a[0] - b[0]);
        const total = buckets.reduce((s, [, n]) => s + n, 0);
        const peak = Math.max(...buckets.map(([, n]) => n));
        let cum = 0;
        // Only non-empty buckets come, so a bucket is named by its upper bound alone.
        const rows = buckets.map(([upper, n]) => {
            cum += n;
            const label = `≤ ${fmtUs(upper)}`;
            return h('div', { class: 'hist-row' },
                h('span', { class: 'hist-label' }, label),
                h('span', { class: 'hist-bar' }, h('span', { class: 'hist-fill', style: `width:${Math.max(0.5, (100 * n) / peak)}%` })),
                h('span', { class: 'hist-count' }, fmtCount(n)),
                h('span', { class: 'hist-cum' }, `${((100 * cum) / total).toFixed(2)} %`));
        });
        box.replaceChildren(h('div', { class: 'hist-row head' }, h('span', {}, 'latency'), h('span', {}, 'commands'), h('span', { class: 'hist-count' }, 'count'), h('span', { class: 'hist-cum' }, 'cumulative')), ...rows);
    }
}
