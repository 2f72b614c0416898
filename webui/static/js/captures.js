// Captures (issue 16 "capture and replay"), a section of the Forensics panel: the captures the
// daemon keeps (at most 4, running or stopped), a form to start one on a target (or one of its
// LUNs, or one initiator), and per capture Stop, Delete and its trace downloaded as JSON (for
// tools/atsarray_replay) or pcapng (Wireshark). Data: /api/v1/captures (webui/API.md
// "Captures"), read on the Forensics panel's timer (forensics.js calls load()). As in the fault
// panel, the API is the one validator: its error messages are shown next to the form as they
// come. The pure functions at the top have no DOM (tests/e2e/unit/captures.test.mjs).
import { h, setText, updateRows } from './dom.js';
import { fmtBytes, fmtCount, fmtTime } from './format.js';
import { shortInitiator, shortTarget } from './labels.js';

const $ = (sel) => document.querySelector(sel);
export const MAX_CAPTURES = 4;  // what the daemon keeps (webui/API.md "Captures")
const STOP_REASONS = { stopped: 'by request', max_commands: 'max commands reached', max_seconds: 'max seconds reached' };

// ------------------------------------------------------------------------------ pure functions

// "running", or "stopped (max commands reached)": why a stopped capture stopped.
export function captureState(c) {
    if (c?.running) {
        return 'running';
    }
    const reason = STOP_REASONS[c?.stop_reason] ?? c?.stop_reason;
    return reason && reason !== 'running' ? `stopped (${reason})` : 'stopped';
}

// The data a capture kept, and how many commands kept only their data's length and CRC32C
// (those past its max_mib).
export function dataKept(c) {
    const kept = fmtBytes(c?.data_bytes ?? 0);
    const without = Number(c?.data_not_kept ?? 0);
    return without > 0 ? `${kept} (${fmtCount(without)} without data: past ${c.max_mib} MiB)` : kept;
}

export function traceUrl(id, format) {
    return `/api/v1/captures/${encodeURIComponent(id)}/trace?format=${format === 'pcapng' ? 'pcapng' : 'json'}`;
}

// "atsarray-c1-lab.trace.json" / "atsarray-c1-lab.pcapng": only characters a file name takes.
export function traceFileName(c, format) {
    const safe = (s) => String(s ?? '').replace(/[^A-Za-z0-9._-]+/g, '_');
    const name = ['atsarray', safe(c?.id), safe(shortTarget(c?.target ?? ''))].filter((x) => x && x !== '_' && x !== '?').join('-');
    return `${name}.${format === 'pcapng' ? 'pcapng' : 'trace.json'}`;
}

// The form's values ({target, lun, initiator, max_commands, max_mib, max_seconds}, as typed) as a
// POST /api/v1/captures body: empty fields left out (the API's defaults), numbers sent as typed
// so the API's range checks answer; only what is not a number at all stops here.
export function captureSpec(values) {
    const spec = {};
    const errors = [];
    const target = String(values.target ?? '').trim();
    if (target) {
        spec.target = target;
    }
    const initiator = String(values.initiator ?? '').trim();
    if (initiator) {
        spec.initiator = initiator;
    }
    for (const key of ['lun', 'max_commands', 'max_mib', 'max_seconds']) {
        const raw = String(values[key] ?? '').trim();
        if (raw === '') {
            continue;
        }
        if (!Number.isFinite(Number(raw))) {
            errors.push(`${key}: not a number`);
        } else {
            spec[key] = Number(raw);
        }
    }
    return { spec, errors };
}

// ------------------------------------------------------------------------------------ section

export class CapturesPanel {
    constructor(api) {
        this.api = api;
        this.controls = new Map();  // capture id -> its nodes, kept: a poll never swaps a button mid-click
        this.captures = [];
        this.loads = 0;             // answers rendered (the browser tests wait on it)
        this.loading = null;
        $('#capture-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.startCapture();
        });
    }

    setTargets(targets) {
        const select = $('#capture-target');
        const chosen = select.value;
        select.replaceChildren(...(targets ?? []).map((t) => h('option', { value: t.name, title: t.name }, shortTarget(t.name))));
        if ([...select.options].some((o) => o.value === chosen)) {
            select.value = chosen;
        }
        $('#capture-start').disabled = select.options.length === 0;
    }

    // GET /api/v1/captures, one at a time; refresh() after a change waits for one that starts after it.
    load() {
        if (!this.loading) {
            this.loading = this.fetchList().finally(() => {
                this.loading = null;
            });
        }
        return this.loading;
    }

    refresh() {
        return this.loading ? this.loading.then(() => this.load()) : this.load();
    }

    async fetchList() {
        try {
            const r = await this.api.get('/api/v1/captures');
            this.setOff(null);
            this.showStatus('');
            this.render(Array.isArray(r?.captures) ? r.captures : []);
        } catch (e) {
            // 501: a daemon that keeps no captures; 404: one older than them.
            if (e.status === 501 || e.status === 404) {
                this.setOff(e.message);
            } else {
                this.showStatus(`cannot load the captures: ${e.message}`);
            }
        } finally {
            this.loads++;
        }
    }

    setOff(message) {
        const off = message !== null;
        $('#captures-off').hidden = !off;
        $('#captures-on').hidden = off;
        if (off) {
            setText($('#captures-off-message'), message);
        }
    }

    showStatus(text) {
        const el = $('#captures-status');
        setText(el, text);
        el.hidden = !text;
    }

    render(list) {
        this.captures = list;
        const live = new Set(list.map((c) => c.id));
        for (const id of this.controls.keys()) {
            if (!live.has(id)) {
                this.controls.delete(id);
            }
        }
        const rows = list.map((c) => [c.id, [
            { text: c.id, class: 'id mono' },
            { text: shortTarget(c.target), class: 'target', title: c.target },
            { text: c.lun === null || c.lun === undefined ? 'all' : c.lun, class: 'lun num' },
            { text: c.initiator ? shortInitiator(c.initiator) : 'any', class: 'initiator', title: c.initiator || 'any initiator' },
            { text: captureState(c), class: `state ${c.running ? 'running' : 'muted'}`,
              title: `at most ${fmtCount(c.max_commands)} commands, ${c.max_mib} MiB of data, ${fmtCount(c.max_seconds)} s` },
            { text: fmtCount(c.commands), class: 'num commands' },
            { text: dataKept(c), class: 'num data' },
            { text: fmtCount(c.sessions), class: 'num sessions' },
            { text: fmtTime(c.started), class: 'mono started', title: `started ${c.started ?? '?'}${c.ended ? `, ended ${c.ended}` : ''}` },
            { node: this.controlsOf(c).actions, class: 'actions' },
        ], `capture-row ${c.running ? 'running' : 'stopped'}`]);
        const tbody = $('#captures-table tbody');
        updateRows(tbody, rows, 'no capture kept: start one above', 10);
        for (const tr of tbody.querySelectorAll('tr[data-key]')) {
            tr.dataset.id = tr.dataset.key;
        }
        setText($('#captures-count'), `${list.length} of ${MAX_CAPTURES}`);
    }

    // One set of nodes per capture, updated in place. The downloads are links (the trace's URL),
    // followed by the page itself: a link cannot carry the Authorization header.
    controlsOf(c) {
        let k = this.controls.get(c.id);
        if (!k) {
            const link = (format, label) => h('a', {
                class: 'download', href: traceUrl(c.id, format), download: traceFileName(c, format), dataset: { format },
                title: format === 'pcapng' ? 'the commands as pcapng (Wireshark\'s iSCSI dissector)' : 'the commands as a JSON trace (tools/atsarray_replay)',
                onclick: (ev) => {
                    ev.preventDefault();
                    this.download(c, format);
                },
            }, label);
            k = {
                stop: h('button', { type: 'button', class: 'stop', onclick: () => this.stop(c.id), title: 'stop: the capture is kept for export' }, 'Stop'),
                remove: h('button', { type: 'button', class: 'danger delete', onclick: () => this.remove(c.id), title: 'stop and delete the capture' }, 'Delete'),
            };
            k.actions = h('span', { class: 'capture-actions' }, k.stop, ' ', link('json', 'JSON'), ' ', link('pcapng', 'pcapng'), ' ', k.remove);
            this.controls.set(c.id, k);
        }
        k.stop.hidden = !c.running;
        return k;
    }

    // POST /api/v1/captures: 201 with the capture, or the API's 4xx message shown as it came.
    async startCapture() {
        const { spec, errors } = captureSpec({
            target: $('#capture-target').value,
            lun: $('#capture-lun').value,
            initiator: $('#capture-initiator').value,
            max_commands: $('#capture-max-commands').value,
            max_mib: $('#capture-max-mib').value,
            max_seconds: $('#capture-max-seconds').value,
        });
        const status = $('#capture-form-status');
        for (const [key, sel] of [['lun', '#capture-lun'], ['max_commands', '#capture-max-commands'], ['max_mib', '#capture-max-mib'], ['max_seconds', '#capture-max-seconds']]) {
            if ($(sel).validity?.badInput) {
                errors.push(`${key}: not a number`);
            }
        }
        if (errors.length) {
            this.showFormError(errors.join('\n'));
            setText(status, '');
            return;
        }
        $('#capture-start').disabled = true;
        setText(status, 'starting…');
        try {
            const c = await this.api.change('POST', '/api/v1/captures', spec);
            this.showFormError('');
            setText(status, `started capture ${c?.id ?? '?'} of ${shortTarget(c?.target ?? spec.target)}`);
        } catch (e) {
            setText(status, '');
            this.showFormError(`capture not started (${e.status ?? 'no answer'}): ${e.message}`);
        } finally {
            $('#capture-start').disabled = $('#capture-target').options.length === 0;
        }
        await this.refresh();
    }

    showFormError(text) {
        const el = $('#capture-form-error');
        setText(el, text);
        el.hidden = !text;
    }

    // POST /api/v1/captures/{id}/stop; DELETE /api/v1/captures/{id}. Errors show above the table.
    async stop(id) {
        const k = this.controls.get(id);
        if (k) {
            k.stop.disabled = true;
        }
        try {
            await this.api.change('POST', `/api/v1/captures/${encodeURIComponent(id)}/stop`);
            this.showStatus('');
        } catch (e) {
            this.showStatus(`capture ${id} not stopped: ${e.message}`);
        } finally {
            if (k) {
                k.stop.disabled = false;
            }
        }
        await this.refresh();
    }

    async remove(id) {
        const k = this.controls.get(id);
        if (k) {
            k.remove.disabled = true;
        }
        try {
            await this.api.change('DELETE', `/api/v1/captures/${encodeURIComponent(id)}`);
            this.showStatus('');
        } catch (e) {
            this.showStatus(`capture ${id} not deleted: ${e.message}`);
            if (k) {
                k.remove.disabled = false;
            }
        }
        await this.refresh();
    }

    // The trace fetched with the token into a Blob, saved through an <a download> of its object URL.
    async download(c, format) {
        try {
            const blob = await this.api.blob(traceUrl(c.id, format));
            const url = URL.createObjectURL(blob);
            const a = h('a', { href: url, download: traceFileName(c, format), hidden: true });
            document.body.append(a);
            a.click();
            a.remove();
            // Revoked a minute later: the browser has long taken the download by then.
            setTimeout(() => URL.revokeObjectURL(url), 60_000);
            this.showStatus('');
        } catch (e) {
            this.showStatus(`the ${format === 'pcapng' ? 'pcapng' : 'JSON'} trace of ${c.id} not downloaded: ${e.message}`);
        }
    }
}
