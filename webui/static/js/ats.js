// ATS panel: esxtop-style figures per LUN and per initiator, their 5-minute charts, and the hot
// blocks with their last expected vs on-disk images decoded as VMFS records.
import { updateRows, setText, h } from './dom.js';
import { fmtUs, fmtCount, fmtRate, fmtRatio, fmtTime, hexDumpModel, dumpLength } from './format.js';
import { lunKey, lunLabel, shortTarget, shortInitiator, initiatorLabel, liveFirst } from './labels.js';
import { TimeChart } from './charts.js';
import { perSecond, tickSeconds } from './history.js';
import { explainMiscompare, parseHex, recordKind, formatUuid, decodeHeartbeat, fieldsOf } from './vmfs.js';

const $ = (sel) => document.querySelector(sel);

export class AtsPanel {
    constructor(history) {
        this.history = history;  // TickHistory shared with main (keys lun:/ini:)
        this.lunChart = new TimeChart($('#chart-ats-luns'), { yLabel: 'per second', format: (v) => fmtRate(v) });
        this.iniChart = new TimeChart($('#chart-ats-initiators'), { yLabel: 'per second', format: (v) => fmtRate(v) });
        this.lunNames = new Map();       // key -> {target, lun}
        this.initiators = new Map();     // initiator_port -> last tick entry
        this.totals = new Map();         // initiator_port -> {successes, miscompares, ...} from GET /ats + deltas
        this.atsInitiators = new Map();  // initiator_port -> aggregated Counters from GET /ats
        this.hotBlocks = [];
        this.blockSizes = new Map();     // LUN key -> block size (from GET /targets)
        this.selected = null;            // hot block key
        this.showAll = false;
        $('#hot-blocks-table tbody').addEventListener('click', (ev) => {
            const tr = ev.target.closest('tr[data-key]');
            if (tr) {
                this.selected = tr.dataset.key;
                this.renderHotBlocks();
            }
        });
    }

    setTargets(targets) {
        for (const t of targets ?? []) {
            for (const l of t.luns ?? []) {
                this.blockSizes.set(lunKey(t.name, l.id), l.block_size);
            }
        }
    }

    // GET /api/v1/ats: cumulative per-initiator counters (summed over LUNs) and the hot blocks.
    setAts(ats) {
        this.atsInitiators.clear();
        for (const i of ats?.initiators ?? []) {
            const prev = this.atsInitiators.get(i.initiator_port);
            if (!prev) {
                this.atsInitiators.set(i.initiator_port, { ...i });
            } else {
                prev.successes += i.successes ?? 0;
                prev.miscompares += i.miscompares ?? 0;
            }
        }
        this.totals.clear();
        for (const [port, i] of this.atsInitiators) {
            this.totals.set(port, { successes: i.successes ?? 0, miscompares: i.miscompares ?? 0 });
        }
        this.hotBlocks = ats?.hot_blocks ?? [];
        this.renderHotBlocks();
    }

    onTick(tick) {
        // null on a tick without an interval (the first of a stream): no rate, '—'.
        const secs = tickSeconds(tick);
        const lunRows = [];
        for (const l of tick.luns ?? []) {
            const key = lunKey(l.target, l.lun);
            this.lunNames.set(key, l);
            const sucS = perSecond(l.d_successes ?? 0, secs);
            const misS = perSecond(l.d_miscompares ?? 0, secs);
            const winSuc = this.history.sum(`lun:${key}:suc`) ;
            const winMis = this.history.sum(`lun:${key}:mis`);
            lunRows.push([key, [
                { text: shortTarget(l.target), title: l.target },
                { text: l.lun, class: 'num' },
                { text: fmtRate(sucS), class: 'num' },
                { text: fmtRate(misS), class: misS > 0 ? 'num bad' : 'num' },
                { text: l.d_successes ? fmtUs(l.aavg_suc_us) : '—', class: 'num' },
                { text: l.d_miscompares ? fmtUs(l.aavg_f_us) : '—', class: 'num' },
                { text: fmtRatio(l.d_miscompares ?? 0, (l.d_successes ?? 0) + (l.d_miscompares ?? 0)), class: 'num' },
                { text: fmtRatio(winMis, winSuc + winMis), class: 'num' },
                { text: fmtCount(l.successes), class: 'num' },
                { text: fmtCount(l.miscompares), class: l.miscompares > 0 ? 'num bad' : 'num', title: 'miscompares since the daemon started' },
                { text: fmtCount(l.injected_miscompares), class: 'num' },
                { text: fmtCount(l.errors), class: l.errors > 0 ? 'num warn' : 'num' },
            ]]);
        }
        updateRows($('#ats-luns-table tbody'), lunRows, 'no LUNs', 12);

        // A tick lists the initiator ports with a session and those whose session ended less
        // than [console] keep_ended_sessions_s ago (issue 19): the others leave the table and the
        // chart's legend.
        const inis = liveFirst(tick.initiators ?? []);
        const listed = new Set(inis.map((i) => i.initiator_port));
        for (const port of [...this.initiators.keys()]) {
            if (!listed.has(port)) {
                this.initiators.delete(port);
            }
        }
        const iniRows = [];
        for (const i of inis) {
            this.initiators.set(i.initiator_port, i);
            const t = this.totals.get(i.initiator_port) ?? { successes: 0, miscompares: 0 };
            if (secs !== null) {
                // A first tick's deltas are null (its totals are in GET /ats already).
                t.successes += i.d_ats_successes ?? 0;
                t.miscompares += i.d_ats_miscompares ?? 0;
            }
            this.totals.set(i.initiator_port, t);
            const a = this.atsInitiators.get(i.initiator_port);
            const sucS = perSecond(i.d_ats_successes ?? 0, secs);
            const misS = perSecond(i.d_ats_miscompares ?? 0, secs);
            const winSuc = this.history.sum(`ini:${i.initiator_port}:suc`);
            const winMis = this.history.sum(`ini:${i.initiator_port}:mis`);
            iniRows.push([i.initiator_port, [
                { text: `${initiatorLabel(i, inis)}${i.live === false ? ' (ended)' : ''}`, class: 'mono', title: i.initiator_port },
                { text: i.address ?? '', class: 'mono' },
                { text: fmtRate(sucS), class: 'num' },
                { text: fmtRate(misS), class: misS > 0 ? 'num bad' : 'num' },
                { text: fmtRatio(winMis, winSuc + winMis), class: 'num' },
                { text: fmtCount(t.successes), class: 'num' },
                { text: fmtCount(t.miscompares), class: t.miscompares > 0 ? 'num bad' : 'num' },
                { text: a ? fmtUs(a.latency_success?.mean_us) : '—', class: 'num', title: 'mean since the daemon started' },
                { text: a ? fmtUs(a.latency_failure?.mean_us) : '—', class: 'num', title: 'mean since the daemon started' },
                { text: a ? fmtUs(a.lock_wait?.mean_us) : '—', class: 'num', title: 'mean wait for the LBA lock' },
            ], i.live === false ? 'ended' : '']);
        }
        updateRows($('#ats-initiators-table tbody'), iniRows, 'no initiator has sent ATS yet', 10);
    }

    // Samples for the history, per LUN and per initiator: ATS/s and ATSF/s; null (a gap in the
    // line) for a tick without an interval, whose deltas are no rate.
    static samples(tick) {
        const secs = tickSeconds(tick);
        const v = {};
        for (const l of tick.luns ?? []) {
            const key = lunKey(l.target, l.lun);
            v[`lun:${key}:suc`] = perSecond(l.d_successes ?? 0, secs);
            v[`lun:${key}:mis`] = perSecond(l.d_miscompares ?? 0, secs);
        }
        for (const i of tick.initiators ?? []) {
            v[`ini:${i.initiator_port}:suc`] = perSecond(i.d_ats_successes ?? 0, secs);
            v[`ini:${i.initiator_port}:mis`] = perSecond(i.d_ats_miscompares ?? 0, secs);
        }
        return v;
    }

    renderCharts() {
        const hist = this.history;
        const build = (prefix, labelOf, keep = () => true, order = (ids) => ids) => {
            const ids = order([...new Set(hist.keys(prefix).map((k) => k.slice(prefix.length, k.lastIndexOf(':'))))].filter(keep));
            const series = [];
            const cols = [];
            for (const id of ids) {
                const label = labelOf(id);
                series.push({ key: `${id}:suc`, label: `${label} ATS/s`, group: id });
                cols.push(hist.values(`${prefix}${id}:suc`));
                series.push({ key: `${id}:mis`, label: `${label} ATSF/s`, group: id, dash: true, width: 2 });
                cols.push(hist.values(`${prefix}${id}:mis`));
            }
            return { series, cols };
        };
        const luns = build('lun:', (key) => {
            const l = this.lunNames.get(key);
            return l ? lunLabel(l.target, l.lun) : key;
        });
        this.lunChart.update(hist.times, luns.series, luns.cols);
        const all = [...this.initiators.values()];
        const inis = build('ini:', (port) => {
            const i = this.initiators.get(port);
            return i ? `${initiatorLabel(i, all)}${i.live === false ? ' (ended)' : ''}` : port;
        }, (port) => this.initiators.has(port), (ports) => liveFirst(ports, (port) => this.initiators.get(port)?.live !== false));
        this.iniChart.update(hist.times, inis.series, inis.cols);
    }

    // The host UUID of each initiator, learnt from the heartbeat images it sent as "test": that
    // is the image the host itself last wrote (VMFS-ATS.md), so its owner is the host.
    ownersByInitiator() {
        const m = new Map();
        for (const b of this.hotBlocks) {
            try {
                const e = parseHex(b.last_expected ?? '');
                if (recordKind(e) === 'heartbeat' && b.last_initiator) {
                    const hb = decodeHeartbeat(e);
                    if (hb.owner && hb.owner.some((x) => x !== 0)) {
                        m.set(b.last_initiator, formatUuid(hb.owner));
                    }
                }
            } catch {
                // not hex: nothing to learn
            }
        }
        return m;
    }

    renderHotBlocks() {
        const owners = this.ownersByInitiator();
        const blocks = [...this.hotBlocks].sort((a, b) =>
            (b.last_miscompare ?? '').localeCompare(a.last_miscompare ?? '') || (b.miscompares ?? 0) - (a.miscompares ?? 0));
        this.explained = new Map();
        const rows = blocks.slice(0, 50).map((b) => {
            const key = `${b.target}|${b.lun}|${b.lba}`;
            let x = null;
            try {
                x = explainMiscompare(b.last_expected ?? '', b.last_actual ?? '', { ownerOfInitiator: owners.get(b.last_initiator) ?? null });
            } catch {
                x = null;
            }
            if (b.last_late_retry) {
                // The daemon compared the block with the miscompared ATS's own set image: they
                // were equal, so an earlier attempt of this ATS had landed (KB 2113956).
                x = { ...(x ?? {}), late_retry: true,
                      verdict: 'the block holds exactly the image this ATS was writing: its earlier attempt landed late (a late retry after an abort or timeout, KB 2113956)' };
            }
            this.explained.set(key, { block: b, x });
            const looks = x?.kind ? (x.kind === 'heartbeat' ? 'VMFS heartbeat' : 'VMFS lock') : 'data';
            const off = x && x.first_diff >= 0 ? `0x${x.first_diff.toString(16).padStart(2, '0')}${x.field ? ' ' + x.field.name : ''}` : '—';
            return [key, [
                { text: shortTarget(b.target), title: b.target },
                { text: b.lun, class: 'num' },
                { text: b.lba, class: 'num mono', title: `0x${Number(b.lba).toString(16)}; byte offset 0x${(Number(b.lba) * (this.blockSizes.get(lunKey(b.target, b.lun)) ?? 512)).toString(16)}` },
                { text: fmtCount(b.miscompares), class: 'num bad' },
                { text: fmtCount(b.successes), class: 'num' },
                { text: fmtRatio(b.miscompares ?? 0, (b.miscompares ?? 0) + (b.successes ?? 0)), class: 'num' },
                x?.late_retry ? { node: h('span', {}, looks, ' ', h('span', { class: 'tag retry' }, 'late retry')) } : looks,
                { text: off, class: 'mono' },
                { text: shortInitiator(b.last_initiator), title: b.last_initiator ?? '', class: 'mono' },
                { text: fmtTime(b.last_miscompare), title: b.last_miscompare ?? '' },
            ], key === this.selected ? 'selected' : ''];
        });
        updateRows($('#hot-blocks-table tbody'), rows, 'no miscompares yet', 10);
        if (!this.selected || !this.explained.has(this.selected)) {
            this.selected = rows.length ? rows[0][0] : null;
            for (const tr of $('#hot-blocks-table tbody').children) {
                tr.classList.toggle('selected', tr.dataset.key === this.selected);
            }
        }
        this.renderDetail();
    }

    renderDetail() {
        const box = $('#hot-block-detail');
        const entry = this.selected ? this.explained.get(this.selected) : null;
        if (!entry) {
            box.hidden = true;
            box.replaceChildren();
            return;
        }
        const { block: b, x } = entry;
        let e;
        let a;
        try {
            e = parseHex(b.last_expected ?? '');
            a = parseHex(b.last_actual ?? '');
        } catch {
            box.replaceChildren(h('p', { class: 'warn' }, 'the images are not hex'));
            box.hidden = false;
            return;
        }
        const total = Math.max(e.length, a.length);
        const len = this.showAll ? total : dumpLength(x?.first_diff ?? -1, x?.kind ?? null, total);
        const model = hexDumpModel(e, a, x?.kind ?? null, len);
        let senseNote = b.last_offset !== undefined && b.last_offset !== null
            ? `sense INFORMATION (first differing byte) 0x${Number(b.last_offset).toString(16)}` : '';
        if (senseNote && x && x.first_diff >= 0 && Number(b.last_offset) !== x.first_diff) {
            senseNote += ` — but these images first differ at 0x${x.first_diff.toString(16)}`;
        }
        const legend = x?.kind
            ? fieldsOf(x.kind).map(([off, , name]) => `0x${off.toString(16).padStart(2, '0')} ${name}`).join(' · ')
            : '';
        const toggle = total > len || this.showAll
            ? h('button', { type: 'button', class: 'link', onclick: () => { this.showAll = !this.showAll; this.renderDetail(); } },
                this.showAll ? `show the first ${dumpLength(x?.first_diff ?? -1, x?.kind ?? null, total)} bytes` : `show all ${total} bytes`)
            : null;
        box.replaceChildren(...[
            h('div', { class: 'detail-head' },
                h('strong', {}, `LBA ${b.lba} on ${lunLabel(b.target, b.lun)}`),
                h('span', { class: 'muted' }, ` last miscompare ${fmtTime(b.last_miscompare, true)} by ${shortInitiator(b.last_initiator)}`),
                senseNote ? h('span', { class: 'muted' }, ` · ${senseNote}`) : null,
                // One name per host: its ports (one per reconnect, a new ISID each) say the same.
                (b.initiators ?? []).length ? h('span', { class: 'muted' }, ` · initiators: ${[...new Set((b.initiators ?? []).map((i) => shortInitiator(typeof i === 'string' ? i : (i.initiator_port ?? i.initiator_name ?? JSON.stringify(i)))))].join(', ')}`) : null),
            h('p', { class: 'decode', id: 'hot-block-decode' }, x ? x.summary : 'cannot decode'),
            x?.verdict ? h('p', { class: x.late_retry ? 'verdict retry' : 'verdict' }, x.late_retry ? h('span', { class: 'tag retry' }, 'late retry') : null, ' ', x.verdict) : null,
            h('div', { class: 'dumps' },
                dumpTable('expected (test image)', model, 'expected'),
                dumpTable('on disk', model, 'actual')),
            legend ? h('p', { class: 'legend muted' }, `${x.kind === 'heartbeat' ? 'heartbeat slot' : 'on-disk lock'} fields (little-endian): ${legend}`) : null,
            toggle].filter((n) => n));
        box.hidden = false;
    }
}

function dumpTable(title, model, side) {
    const rows = model.map((r) => {
        const cells = r[side].map((c, i) => h('span', {
            class: `byte${c.diff ? ' diff' : ''}${c.field ? ' f' : ''}${(r.offset + i) % 8 === 0 && i > 0 ? ' gap' : ''}`,
            title: `0x${(r.offset + i).toString(16)}${c.field ? ' ' + c.field : ''}`,
        }, c.value === null ? '  ' : c.value.toString(16).padStart(2, '0')));
        const ascii = r[side].map((c) => (c.value !== null && c.value >= 0x20 && c.value < 0x7f ? String.fromCharCode(c.value) : '.')).join('');
        return h('div', { class: 'dump-row' }, h('span', { class: 'off' }, r.offset.toString(16).padStart(4, '0')), h('span', { class: 'bytes' }, cells), h('span', { class: 'ascii' }, ascii));
    });
    return h('div', { class: `dump ${side}` }, h('div', { class: 'dump-title' }, title), ...rows);
}
