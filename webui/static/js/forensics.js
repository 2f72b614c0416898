// Forensics panel (issue 16): the flight recorder's miscompares, each with its cause, the
// explanation sentence and the culprit; the recorder's counters; filters by initiator, cause and
// time; and time travel through one block's history: one row per command in order, and for the
// selected row its images step by step (compare, on-disk, set), each decoded as a VMFS record
// (vmfs.js) and diffed byte by byte against the version before it. Left/right arrows step through
// the rows. Data: GET /api/v1/forensics, /forensics/blocks and /forensics/blocks/{t}/{lun}/{lba}
// (webui/API.md "ATS forensics"), polled every POLL_MS like the fault and Ceph panels (the
// stream's ticks carry no histories). The pure functions at the top have no DOM
// (tests/e2e/unit/forensics.test.mjs); everything from the network is inserted as text. The
// Captures section (captures.js) is read on the same timer, recorder on or off.
import { h, setText, updateRows } from './dom.js';
import { fmtBytes, fmtCount, fmtTime, fmtUs } from './format.js';
import { lunLabel, shortInitiator } from './labels.js';
import { HB_FREE, HB_IN_USE, decodeRecord, describeOwner, differingFields, fieldAt, formatStamp, formatUuid, parseHex } from './vmfs.js';

const $ = (sel) => document.querySelector(sel);
export const POLL_MS = 3000;
export const MISCOMPARE_LIMIT = 200;  // GET /forensics?limit=: what the filters search
export const CAUSES = ['contention', 'late_retry', 'stale_read', 'failover', 'injected', 'unknown'];
const ROLES = { compare: 'compare (test) image', on_disk: 'on-disk image', set: 'set image' };

// ------------------------------------------------------------------------------ pure functions

// "0x252061a4": an ITT as the daemon's explanations print it.
export function fmtItt(itt) {
    if (itt === null || itt === undefined || Number.isNaN(Number(itt))) {
        return '—';
    }
    return `0x${(Number(itt) >>> 0).toString(16).padStart(8, '0')}`;
}

// A cause the page knows, else "unknown" (a class name never comes from the network as is).
export function causeClass(cause) {
    return CAUSES.includes(cause) ? cause : 'unknown';
}

// When a command happened, for ordering and the time filter: its answer, else its start or
// arrival (an entry without an answer yet, or one never answered).
export function entryTime(e) {
    return e?.answered ?? e?.started ?? e?.arrived ?? null;
}

// The path a command came on: "127.0.0.1:55970 · port 1" (relative target port, SPC-4 §7.7.3.6).
export function pathLabel(origin) {
    if (!origin) {
        return '';
    }
    const port = origin.relative_target_port;
    return [origin.address, port === null || port === undefined ? null : `port ${port}`].filter((x) => x).join(' · ');
}

// Whether a miscompare passes the filters: `initiator` a case-insensitive substring of the
// name, port or address of the initiator that got it or of its culprit; `cause` one cause or
// empty; `minutes` only those answered within the last N minutes of `nowMs` (empty: any time).
export function matchesFilter(m, filter = {}, nowMs = Date.now()) {
    const cause = filter.cause ?? '';
    if (cause && m?.cause !== cause) {
        return false;
    }
    const needle = String(filter.initiator ?? '').trim().toLowerCase();
    if (needle) {
        const texts = [m?.origin, m?.culprit?.origin].flatMap((o) => [o?.initiator_name, o?.initiator_port, o?.address]);
        if (!texts.some((t) => String(t ?? '').toLowerCase().includes(needle))) {
            return false;
        }
    }
    const minutes = Number(filter.minutes);
    if (filter.minutes !== undefined && filter.minutes !== null && filter.minutes !== '' && minutes > 0) {
        const t = Date.parse(entryTime(m) ?? '');
        if (Number.isNaN(t) || t < nowMs - minutes * 60_000) {
            return false;
        }
    }
    return true;
}

export function filterMiscompares(list, filter = {}, nowMs = Date.now()) {
    return (list ?? []).filter((m) => matchesFilter(m, filter, nowMs));
}

// The image a block holds after a command: an ATS or write that succeeded put its set image
// there; any other command leaves (and saw) the on-disk one. 0: the entry names none.
export function imageAfter(e) {
    if (e?.set_image && e.outcome === 'good') {
        return e.set_image;
    }
    return e?.on_disk_image ?? 0;
}

// The versions of row `index` step by step: the image the block held before the command (after
// the nearest earlier row naming one), then the command's compare, on-disk and set images, each
// with the id of the version before it ({before, steps: [{role, id, prev}]}).
export function imageSteps(entries, index) {
    let before = 0;
    for (let i = index - 1; i >= 0 && !before; i--) {
        before = imageAfter(entries[i]);
    }
    const e = entries[index] ?? {};
    const steps = [];
    let prev = before;
    for (const role of ['compare', 'on_disk', 'set']) {
        const id = e[`${role}_image`] ?? 0;
        if (id) {
            steps.push({ role, id, prev });
            prev = id;
        }
    }
    return { before, steps };
}

// Offsets where two images differ (a byte only one of them has differs too).
export function byteDiff(prev, cur) {
    const out = [];
    const n = Math.max(prev?.length ?? 0, cur?.length ?? 0);
    for (let i = 0; i < n; i++) {
        if ((prev?.[i] ?? null) !== (cur?.[i] ?? null)) {
            out.push(i);
        }
    }
    return out;
}

// The compact hex diff of `cur` against `prev`: only the rows of `width` bytes holding a change
// (at most `maxRows`; `more` says how many such rows were left out), each byte with its value,
// the previous one and whether it changed. Without `prev` (the first version in the history),
// the first `firstRows` rows, nothing marked.
export function diffRows(prev, cur, { width = 16, maxRows = 8, firstRows = 2 } = {}) {
    const changed = prev ? byteDiff(prev, cur) : [];
    const rowOffsets = prev
        ? [...new Set(changed.map((o) => o - (o % width)))]
        : Array.from({ length: Math.min(firstRows, Math.ceil((cur?.length ?? 0) / width)) }, (_, i) => i * width);
    const set = new Set(changed);
    const rows = rowOffsets.slice(0, maxRows).map((offset) => {
        const cells = [];
        for (let i = offset; i < Math.min(offset + width, Math.max(cur?.length ?? 0, prev?.length ?? 0)); i++) {
            cells.push({ value: cur?.[i] ?? null, prev: prev ? (prev[i] ?? null) : null, changed: set.has(i) });
        }
        return { offset, cells };
    });
    return { changed: changed.length, rows, more: Math.max(0, rowOffsets.length - maxRows) };
}

function u64le(b, off) {
    let v = 0n;
    for (let i = 7; i >= 0; i--) {
        v = (v << 8n) | BigInt(b[off + i]);
    }
    return v;
}

const hexAddr = (v) => (v === null || v === undefined ? '?' : `0x${v.toString(16)}`);
const hex32 = (v) => (v === null || v === undefined ? '?' : `0x${v.toString(16).padStart(8, '0')}`);
const ownerText = (owner) => (!owner ? '?' : owner.every((x) => x === 0) ? 'nobody (zeroed)' : `${formatUuid(owner)} (${describeOwner(owner)})`);

// What an image holds, as [field, text] pairs: a VMFS heartbeat slot or on-disk lock field by
// field (shared/VMFS-ATS.md, decoded by vmfs.js), a 64-bit counter (tools/ats-counter: the value
// little-endian at offset 0, zeros after), zeros, or other data.
export function describeImage(bytes) {
    const r = bytes ? decodeRecord(bytes) : null;
    if (r?.kind === 'heartbeat') {
        return { kind: 'heartbeat', label: 'VMFS heartbeat slot', fields: [
            ['state', `${hex32(r.state)} (${r.state === HB_IN_USE ? 'in use' : r.state === HB_FREE ? 'free' : '?'})`],
            ['addr', hexAddr(r.addr)],
            ['gen', String(r.gen ?? '?')],
            ['stamp', formatStamp(r.stamp)],
            ['owner', ownerText(r.owner)],
            ['journal', String(r.journal ?? '?')],
        ] };
    }
    if (r?.kind === 'lock') {
        return { kind: 'lock', label: 'VMFS on-disk lock', fields: [
            ['type', `${hex32(r.type)} (${r.type_name})`],
            ['addr', hexAddr(r.addr)],
            ['hb addr', hexAddr(r.hb_addr)],
            ['hb gen', String(r.hb_gen ?? '?')],
            ['token', String(r.token ?? '?')],
            ['mode', `${r.mode ?? '?'} (${r.mode_name})`],
            ['owner', ownerText(r.owner)],
            ['mtime', String(r.mtime ?? '?')],
            ['holders', String(r.holders ?? '?')],
        ] };
    }
    if (!bytes || bytes.length === 0) {
        return { kind: 'none', label: 'no image', fields: [] };
    }
    if (bytes.every((x) => x === 0)) {
        return { kind: 'zeros', label: 'zeros', fields: [['data', `${bytes.length} zero bytes`]] };
    }
    if (bytes.length >= 8 && bytes.subarray(8).every((x) => x === 0)) {
        const v = u64le(bytes, 0);
        if (v < 1n << 48n) {
            return { kind: 'counter', label: 'a 64-bit counter (not a VMFS record)', fields: [['counter', v.toString()]] };
        }
    }
    const nonZero = bytes.reduce((n, x) => n + (x !== 0 ? 1 : 0), 0);
    return { kind: 'data', label: 'data (not a VMFS record)', fields: [['data', `${nonZero} of ${bytes.length} bytes non-zero`]] };
}

// The names of the fields whose bytes differ between two images (VMFS records), else [].
export function changedFields(prev, cur) {
    if (!prev || !cur) {
        return [];
    }
    const kind = describeImage(cur).kind;
    if (kind !== 'heartbeat' && kind !== 'lock') {
        return [];
    }
    return differingFields(kind, prev, cur);
}

// The row an arrow key moves to: one step, clamped to [0, length).
export function stepIndex(index, delta, length) {
    if (length <= 0) {
        return -1;
    }
    return Math.max(0, Math.min(length - 1, (index < 0 ? 0 : index) + delta));
}

export function blockKey(target, lun, lba) {
    return `${target}|${lun}|${lba}`;
}

// ------------------------------------------------------------------------------------ panel

function causeTag(cause) {
    const c = causeClass(cause);
    return h('span', { class: `tag cause cause-${c}`, dataset: { cause: c } }, cause ?? 'unknown');
}

function outcomeTag(e) {
    const o = e.outcome ?? '?';
    const cls = o === 'good' ? 'good' : o === 'miscompare' || o === 'injected_miscompare' ? 'bad' : 'warn';
    return h('span', { class: `tag outcome outcome-${cls}` }, o.replace('_', ' '), e.status_seen === false ? ' · status unseen' : '');
}

function initiatorCell(origin) {
    const name = origin?.initiator_name ?? origin?.initiator_port ?? '?';
    return h('span', { class: 'who', title: `${origin?.initiator_port ?? name}` },
        h('span', { class: 'mono' }, shortInitiator(name)),
        h('span', { class: 'muted' }, ` ${pathLabel(origin)}`));
}

export class ForensicsPanel {
    constructor(api, captures = null) {
        this.api = api;
        this.captures = captures;  // a CapturesPanel (captures.js), loaded with each poll
        this.timer = null;
        this.busy = false;
        this.polls = 0;           // polls done (the browser test waits on it)
        this.report = null;       // GET /forensics
        this.blocks = [];         // GET /forensics/blocks
        this.selected = null;     // {target, lun, lba}
        this.block = null;        // GET /forensics/blocks/... of the selected block
        this.blockError = '';
        this.rowSeq = null;       // the selected timeline row's seq
        this.wantRowSeq = null;   // a miscompare's seq to select once its block loads
        $('#forensics-filters').addEventListener('submit', (ev) => ev.preventDefault());
        $('#forensics-filter-initiator').addEventListener('input', () => this.renderLists());
        $('#forensics-filter-cause').addEventListener('change', () => this.renderLists());
        $('#forensics-filter-minutes').addEventListener('input', () => this.renderLists());
        $('#forensics-miscompares tbody').addEventListener('click', (ev) => {
            const tr = ev.target.closest('tr[data-key]');
            const m = tr ? this.miscompareByKey?.get(tr.dataset.key) : null;
            if (m) {
                this.select(m.target, m.lun, m.block ?? m.lba, m.seq);
            }
        });
        $('#forensics-blocks tbody').addEventListener('click', (ev) => {
            const tr = ev.target.closest('tr[data-key]');
            const b = tr ? this.blockByKey?.get(tr.dataset.key) : null;
            if (b) {
                this.select(b.target, b.lun, b.lba, null);
            }
        });
        $('#forensics-timeline tbody').addEventListener('click', (ev) => {
            const tr = ev.target.closest('tr[data-key]');
            if (tr) {
                this.goTo(Number(tr.dataset.key));
            }
        });
        $('#forensics-travel').addEventListener('keydown', (ev) => {
            if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') {
                return;
            }
            if (ev.target.closest('input, select, textarea')) {
                return;
            }
            ev.preventDefault();
            this.step(ev.key === 'ArrowRight' ? 1 : -1);
        });
        this.renderTravel();
    }

    start() {
        this.poll();
        if (!this.timer) {
            this.timer = setInterval(() => {
                if (!document.hidden) {
                    this.poll();
                }
            }, POLL_MS);
        }
    }

    async poll() {
        if (this.busy) {
            return;
        }
        this.busy = true;
        try {
            const [report, blocks] = await Promise.allSettled([
                this.api.get(`/api/v1/forensics?limit=${MISCOMPARE_LIMIT}`),
                this.api.get(`/api/v1/forensics/blocks?limit=${MISCOMPARE_LIMIT}`),
                this.captures?.load()]);
            if (report.status === 'rejected' && report.reason?.status === 404) {
                this.setOff(report.reason.message);
                return;
            }
            this.setOff(null);
            const failed = [report, blocks].find((r) => r.status === 'rejected');
            this.showError(failed ? `cannot load the flight recorder: ${failed.reason.message}` : '');
            if (report.status === 'fulfilled') {
                this.report = report.value;
            }
            if (blocks.status === 'fulfilled') {
                this.blocks = Array.isArray(blocks.value) ? blocks.value : [];
            }
            this.renderStats();
            this.renderLists();
            if (this.selected) {
                await this.loadBlock();
            }
        } finally {
            this.polls++;
            this.busy = false;
        }
    }

    setOff(message) {
        const off = message !== null;
        $('#forensics-off').hidden = !off;
        $('#forensics-on').hidden = off;
        if (off) {
            setText($('#forensics-off-message'), message);
        }
    }

    showError(text) {
        const box = $('#forensics-error');
        setText(box, text);
        box.hidden = !text;
    }

    filter() {
        return {
            initiator: $('#forensics-filter-initiator').value,
            cause: $('#forensics-filter-cause').value,
            minutes: $('#forensics-filter-minutes').value,
        };
    }

    renderStats() {
        const r = this.report ?? {};
        const s = r.stats ?? {};
        const st = r.settings ?? {};
        const stat = (name, label, value, cls = '') => h('span', { class: `stat ${cls}`, dataset: { stat: name } },
            h('span', { class: 'label' }, label), ' ', h('span', { class: 'value' }, value));
        const causes = s.causes ?? {};
        $('#forensics-stats').replaceChildren(
            stat('notes', 'notes', fmtCount(s.notes ?? 0)),
            stat('dropped_notes', 'dropped', fmtCount(s.dropped_notes ?? 0), s.dropped_notes > 0 ? 'warn' : ''),
            stat('evicted_blocks', 'evicted blocks', fmtCount(s.evicted_blocks ?? 0), s.evicted_blocks > 0 ? 'warn' : ''),
            stat('dropped_entries', 'dropped entries', fmtCount(s.dropped_entries ?? 0)),
            stat('blocks', 'blocks', `${fmtCount(s.blocks ?? 0)} of ${fmtCount(st.max_blocks)}`),
            stat('entries', 'entries', fmtCount(s.entries ?? 0)),
            stat('images', 'images', `${fmtCount(s.images ?? 0)} (${fmtBytes(s.image_bytes ?? 0)} of ${fmtBytes(st.max_image_bytes)})`),
            h('span', { class: 'stat causes' }, h('span', { class: 'label' }, 'causes'), ' ',
                ...CAUSES.map((c) => h('span', { class: 'cause-count', dataset: { cause: c } }, causeTag(c), ` ${fmtCount(causes[c] ?? 0)} `))));
        setText($('#forensics-settings'), st.max_blocks
            ? `keeps up to ${fmtCount(st.max_blocks)} blocks of ${fmtCount(st.entries_per_block)} entries each, images up to ${fmtBytes(st.max_image_bytes)}`
            : '');
    }

    renderLists() {
        const now = Date.now();
        const f = this.filter();
        const all = this.report?.miscompares ?? [];
        const shown = filterMiscompares(all, f, now);
        this.miscompareByKey = new Map();
        const sel = this.selected;
        const rows = shown.map((m) => {
            const key = `${m.target}|${m.lun}|${m.seq}`;
            this.miscompareByKey.set(key, m);
            const c = m.culprit;
            const lba = m.block ?? m.lba;
            const isSel = sel && blockKey(sel.target, sel.lun, sel.lba) === blockKey(m.target, m.lun, lba) && this.rowSeq === m.seq;
            return [key, [
                { text: fmtTime(entryTime(m)), class: 'mono', title: entryTime(m) ?? '' },
                { text: lunLabel(m.target, m.lun), title: m.target },
                { text: lba, class: 'num mono' },
                { node: initiatorCell(m.origin) },
                { text: fmtItt(m.itt), class: 'mono' },
                { node: causeTag(m.cause) },
                { node: h('div', { class: 'clamp', title: m.explanation ?? '' }, m.explanation ?? ''), class: 'msg' },
                { node: c ? h('span', { class: 'culprit', dataset: { initiator: c.origin?.initiator_name ?? '' } },
                    initiatorCell(c.origin), h('span', { class: 'muted' }, ` ${(c.command ?? '').toUpperCase()} ${fmtItt(c.itt)} ${fmtTime(entryTime(c))}`))
                    : h('span', { class: 'muted' }, '—') },
            ], isSel ? 'selected' : ''];
        });
        updateRows($('#forensics-miscompares tbody'), rows,
            all.length ? 'no miscompare matches the filters' : 'no miscompare in the histories', 8);
        setText($('#forensics-count'), `${shown.length} of ${all.length}`);

        // The tracked blocks: the time filter applies (their last command), not the others.
        const minutes = Number(f.minutes);
        const blocks = this.blocks.filter((b) => !(minutes > 0) || Date.parse(b.last ?? '') >= now - minutes * 60_000);
        this.blockByKey = new Map();
        const blockRows = blocks.map((b) => {
            const key = blockKey(b.target, b.lun, b.lba);
            this.blockByKey.set(key, b);
            return [key, [
                { text: lunLabel(b.target, b.lun), title: b.target },
                { text: b.lba, class: 'num mono' },
                { text: fmtCount(b.entries), class: 'num' },
                { text: fmtCount(b.ats), class: 'num' },
                { text: fmtCount(b.miscompares), class: b.miscompares > 0 ? 'num bad' : 'num' },
                { text: fmtTime(b.last), class: 'mono', title: b.last ?? '' },
            ], sel && key === blockKey(sel.target, sel.lun, sel.lba) ? 'selected' : ''];
        });
        updateRows($('#forensics-blocks tbody'), blockRows, 'no block tracked yet: no ATS so far', 6);
    }

    async select(target, lun, lba, seq) {
        this.selected = { target, lun, lba };
        this.block = null;
        this.blockError = '';
        this.rowSeq = null;
        this.wantRowSeq = seq;
        this.renderLists();
        this.renderTravel();
        await this.loadBlock();
        this.revealRow();
        $('#forensics-travel').focus({ preventScroll: true });
    }

    async loadBlock() {
        const s = this.selected;
        if (!s) {
            return;
        }
        const key = blockKey(s.target, s.lun, s.lba);
        try {
            const b = await this.api.get(`/api/v1/forensics/blocks/${encodeURIComponent(s.target)}/${encodeURIComponent(s.lun)}/${encodeURIComponent(s.lba)}`);
            if (!this.selected || blockKey(this.selected.target, this.selected.lun, this.selected.lba) !== key) {
                return;  // another block was selected meanwhile
            }
            this.block = b;
            this.blockError = '';
        } catch (e) {
            this.blockError = e.status === 404 ? `the history of this block is gone: ${e.message}` : `cannot load the block's history: ${e.message}`;
        }
        this.renderTravel();
    }

    entries() {
        return Array.isArray(this.block?.entries) ? this.block.entries : [];
    }

    // The selected row's index: the one asked for (a miscompare's), else the one kept across
    // refreshes by seq (or the next one still there when it was dropped), else the last
    // miscompare, else the last row.
    rowIndex() {
        const entries = this.entries();
        if (entries.length === 0) {
            return -1;
        }
        if (this.wantRowSeq !== null && this.wantRowSeq !== undefined) {
            const i = entries.findIndex((e) => e.seq === this.wantRowSeq);
            this.wantRowSeq = null;
            if (i >= 0) {
                this.rowSeq = entries[i].seq;
                return i;
            }
        }
        if (this.rowSeq !== null) {
            // The same entry; when it was dropped, the first one that came in after it (rows are
            // in the order the commands reached the medium, seqs in the order their notes came).
            const same = entries.findIndex((e) => e.seq === this.rowSeq);
            const i = same >= 0 ? same : entries.findIndex((e) => e.seq >= this.rowSeq);
            if (i >= 0) {
                this.rowSeq = entries[i].seq;
                return i;
            }
        }
        let i = entries.length - 1;
        for (let j = entries.length - 1; j >= 0; j--) {
            if (entries[j].cause) {
                i = j;
                break;
            }
        }
        this.rowSeq = entries[i].seq;
        return i;
    }

    step(delta) {
        const entries = this.entries();
        const i = stepIndex(this.rowIndex(), delta, entries.length);
        if (i >= 0) {
            this.goTo(entries[i].seq);
        }
    }

    // Selects the timeline row of entry `seq` and scrolls the timeline (not the page) to it.
    goTo(seq) {
        this.rowSeq = seq;
        this.renderTravel();
        this.revealRow();
        $('#forensics-travel').focus({ preventScroll: true });
    }

    revealRow() {
        const tr = $('#forensics-timeline tbody tr.selected');
        const box = tr?.closest('.timeline-box');
        if (!box) {
            return;
        }
        const top = tr.offsetTop - box.querySelector('thead').offsetHeight;
        if (top < box.scrollTop) {
            box.scrollTop = top;
        } else if (tr.offsetTop + tr.offsetHeight > box.scrollTop + box.clientHeight) {
            box.scrollTop = tr.offsetTop + tr.offsetHeight - box.clientHeight;
        }
    }

    image(id) {
        const img = this.block?.images?.[String(id)];
        if (!img) {
            return null;
        }
        try {
            return { bytes: parseHex(img.hex ?? ''), vmfs: img.vmfs ?? null };
        } catch {
            return null;
        }
    }

    renderTravel() {
        const s = this.selected;
        const head = $('#forensics-travel-head');
        const timeline = $('#forensics-timeline');
        const detail = $('#forensics-step');
        if (!s) {
            head.replaceChildren(h('span', { class: 'muted' }, 'select a miscompare or a tracked block for its history'));
            timeline.hidden = true;
            detail.replaceChildren();
            return;
        }
        const entries = this.entries();
        const b = this.block;
        head.replaceChildren(...[
            h('strong', {}, `LBA ${s.lba} of ${lunLabel(s.target, s.lun)}`),
            h('span', { class: 'muted' }, b ? ` · ${entries.length} commands, oldest first${b.truncated ? ' (older ones dropped)' : ''} · block size ${b.block_size ?? '?'} · ← → step through the rows` : ' · loading…'),
            this.blockError ? h('div', { class: 'form-error' }, this.blockError) : null].filter((n) => n));
        timeline.hidden = !b;
        if (!b) {
            detail.replaceChildren();
            return;
        }
        const index = this.rowIndex();
        this.markSelected();
        const rows = entries.map((e, i) => [String(e.seq), [
            { text: i + 1, class: 'num muted' },
            { text: fmtTime(e.arrived), class: 'mono', title: `arrived ${e.arrived ?? '?'}, started ${e.started ?? '?'}, answered ${e.answered ?? '?'}` },
            { text: (e.command ?? '?').toUpperCase().replace('_', ' '), class: 'mono' },
            { node: initiatorCell(e.origin) },
            { text: fmtItt(e.itt), class: 'mono' },
            { node: outcomeTag(e) },
            { node: e.cause ? causeTag(e.cause) : h('span', {}, '') },
        ], [i === index ? 'selected' : '', e.cause ? 'miscompare' : ''].filter((c) => c).join(' ')]);
        updateRows($('#forensics-timeline tbody'), rows, 'no command in this history', 7);
        this.renderStep(index);
    }

    // The lists' selected rows follow the time travel's (the lists re-render only on a poll).
    markSelected() {
        const s = this.selected;
        const block = s ? blockKey(s.target, s.lun, s.lba) : null;
        for (const tr of $('#forensics-blocks tbody').children) {
            tr.classList.toggle('selected', tr.dataset.key === block);
        }
        for (const tr of $('#forensics-miscompares tbody').children) {
            const m = this.miscompareByKey?.get(tr.dataset.key);
            tr.classList.toggle('selected', Boolean(m && s && blockKey(m.target, m.lun, m.block ?? m.lba) === block && m.seq === this.rowSeq));
        }
    }

    renderStep(index) {
        const detail = $('#forensics-step');
        const entries = this.entries();
        const e = entries[index];
        if (!e) {
            detail.replaceChildren();
            return;
        }
        const { before, steps } = imageSteps(entries, index);
        const culprit = e.culprit_seq ? entries.find((x) => x.seq === e.culprit_seq) : null;
        const boxes = steps.map((st) => this.versionBox(st, e));
        detail.replaceChildren(...[
            h('div', { class: 'step-head', dataset: { seq: e.seq, index } },
                h('strong', {}, `row ${index + 1} of ${entries.length}: `),
                h('span', { class: 'mono' }, `${(e.command ?? '?').toUpperCase()} ${fmtItt(e.itt)} CmdSN ${e.cmd_sn ?? '?'}`),
                ' from ', initiatorCell(e.origin), ' ', outcomeTag(e), e.cause ? ' ' : null, e.cause ? causeTag(e.cause) : null,
                h('span', { class: 'muted' }, ` · arrived ${fmtTime(e.arrived)}, answered ${fmtTime(e.answered)} · lock wait ${fmtUs(e.lock_wait_us)}`
                    + (e.miscompare_offset !== undefined && e.miscompare_offset !== null ? ` · first differing byte 0x${Number(e.miscompare_offset).toString(16)}` : '')
                    + (e.fault_rule ? ` · fault rule ${e.fault_rule}` : ''))),
            e.explanation ? h('p', { class: 'verdict explanation' }, e.explanation) : null,
            culprit ? h('p', { class: 'muted' }, 'culprit: ', h('button', { type: 'button', class: 'link culprit-row', onclick: () => this.goTo(culprit.seq) },
                `row ${entries.indexOf(culprit) + 1} (${(culprit.command ?? '').toUpperCase()} ${fmtItt(culprit.itt)} from ${shortInitiator(culprit.origin?.initiator_name ?? '')})`)) : null,
            steps.length ? null : h('p', { class: 'muted' }, 'this command names no image'),
            h('p', { class: 'muted legend' }, before ? `before this command the block held image #${before}` : 'no earlier version in the history'),
            h('div', { class: 'versions' }, ...boxes)].filter((n) => n));
    }

    versionBox(st, e) {
        const img = this.image(st.id);
        const prev = st.prev ? this.image(st.prev) : null;
        const what = describeImage(img?.bytes ?? null);
        let role = ROLES[st.role];
        if (st.role === 'set') {
            role += e.outcome === 'good' ? ' (written)' : ' (not written)';
        }
        const same = st.prev === st.id;
        const diff = img && !same ? diffRows(prev?.bytes ?? null, img.bytes) : null;
        const fields = changedFields(prev?.bytes ?? null, img?.bytes ?? null);
        let change;
        if (!st.prev) {
            change = 'the first version in the history';
        } else if (same) {
            change = `the same as image #${st.prev} before it`;
        } else if (!prev) {
            change = `image #${st.prev} before it is not in the answer`;
        } else {
            change = `${diff.changed} byte${diff.changed === 1 ? ' differs' : 's differ'} from image #${st.prev}${fields.length ? ` (${fields.join(', ')})` : ''}`;
        }
        return h('div', { class: 'version', dataset: { role: st.role, image: st.id } },
            h('div', { class: 'dump-title' }, h('strong', {}, `${role} #${st.id}`), ' ', h('span', { class: 'muted' }, what.label)),
            h('p', { class: 'version-change' }, change),
            img ? h('table', { class: 'fields' }, h('tbody', {}, ...what.fields.map(([name, value]) =>
                h('tr', { class: fields.includes(name) ? 'changed' : '', dataset: { field: name } },
                    h('th', {}, name), h('td', { class: 'mono' }, value)))))
                : h('p', { class: 'warn' }, `image #${st.id} is not in the answer`),
            img?.vmfs ? h('p', { class: 'decode' }, img.vmfs) : null,
            diff ? hexDiff(diff, what.kind) : null);
    }
}

function hexDiff(model, kind) {
    const rows = model.rows.map((r) => h('div', { class: 'dump-row' },
        h('span', { class: 'off' }, r.offset.toString(16).padStart(4, '0')),
        h('span', { class: 'bytes' }, ...r.cells.map((c, i) => {
            const off = r.offset + i;
            const field = kind === 'heartbeat' || kind === 'lock' ? fieldAt(kind, off) : null;
            return h('span', {
                class: `byte${c.changed ? ' diff' : ''}${i > 0 && i % 8 === 0 ? ' gap' : ''}`,
                title: `0x${off.toString(16)}${field ? ' ' + field.name : ''}${c.changed ? `: was ${c.prev === null ? 'none' : c.prev.toString(16).padStart(2, '0')}` : ''}`,
            }, c.value === null ? '--' : c.value.toString(16).padStart(2, '0'));
        }))));
    return h('div', { class: 'dump hexdiff' }, ...rows,
        model.more ? h('div', { class: 'muted' }, `… ${model.more} more row${model.more === 1 ? '' : 's'} with changes`) : null);
}
