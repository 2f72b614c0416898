// Live event log (GET /api/v1/events at start, then the ticks' events) and the lab-note form
// (POST /api/v1/events with the bearer token).
import { h, setText } from './dom.js';
import { fmtTime } from './format.js';
import { shortTarget, shortInitiator } from './labels.js';

const $ = (sel) => document.querySelector(sel);
const KEEP = 2000;   // events kept in memory
const SHOW = 500;    // rows shown

export class EventsPanel {
    constructor(api) {
        this.api = api;
        this.events = new Map();  // seq -> event
        this.lastSeq = 0;
        this.kinds = new Set();
        $('#events-kind').addEventListener('change', () => this.render());
        $('#events-filter').addEventListener('input', () => this.render());
        $('#note-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.postNote();
        });
    }

    add(list) {
        let added = 0;
        for (const e of list ?? []) {
            if (e === null || typeof e !== 'object' || e.seq === undefined || this.events.has(e.seq)) {
                continue;
            }
            this.events.set(e.seq, e);
            this.lastSeq = Math.max(this.lastSeq, e.seq);
            added++;
            if (e.kind && !this.kinds.has(e.kind)) {
                this.kinds.add(e.kind);
                $('#events-kind').append(h('option', { value: e.kind }, e.kind));
            }
        }
        if (this.events.size > KEEP) {
            const seqs = [...this.events.keys()].sort((a, b) => a - b);
            for (const s of seqs.slice(0, this.events.size - KEEP)) {
                this.events.delete(s);
            }
        }
        if (added > 0) {
            this.render();
        }
        return added;
    }

    // GET /api/v1/events?since=: the initial load, and the gap after a reconnect.
    async load(since = 0) {
        const r = await this.api.get(`/api/v1/events?since=${since}&limit=${since ? 1000 : 200}`);
        this.add(r?.events ?? []);
        this.lastSeq = Math.max(this.lastSeq, r?.last_seq ?? 0);
    }

    render() {
        const kind = $('#events-kind').value;
        const filter = $('#events-filter').value.trim().toLowerCase();
        const all = [...this.events.values()].sort((a, b) => b.seq - a.seq);
        const shown = all.filter((e) => (!kind || e.kind === kind) &&
            (!filter || [e.message, e.initiator, e.target, e.kind].some((v) => String(v ?? '').toLowerCase().includes(filter))));
        const rows = shown.slice(0, SHOW).map((e) => h('tr', { class: `ev-${e.kind}`, dataset: { seq: e.seq } },
            h('td', { class: 'num muted' }, e.seq),
            h('td', { class: 'mono', title: e.time ?? '' }, fmtTime(e.time, true)),
            h('td', {}, h('span', { class: `tag kind-${e.kind}` }, e.kind ?? '?')),
            h('td', { title: e.target ?? '' }, e.target ? `${shortTarget(e.target)}${e.lun === null || e.lun === undefined ? '' : '/' + e.lun}` : ''),
            h('td', { class: 'mono', title: e.initiator ?? '' }, shortInitiator(e.initiator)),
            h('td', { class: 'msg' }, e.message ?? '')));
        const tbody = $('#events-table tbody');
        tbody.replaceChildren(...(rows.length ? rows : [h('tr', { class: 'empty' }, h('td', { colspan: 6 }, 'no events'))]));
        setText($('#events-count'), `${shown.length} of ${this.events.size} events in memory`);
    }

    async postNote() {
        const input = $('#note-text');
        const status = $('#note-status');
        const message = input.value.trim();
        if (message.length < 1 || message.length > 500) {
            setText(status, 'a note is 1 to 500 characters');
            return;
        }
        $('#note-submit').disabled = true;
        setText(status, 'posting…');
        try {
            if (!this.api.token) {
                await this.api.fetchToken();
            }
            let ev;
            try {
                ev = await this.api.post('/api/v1/events', { message });
            } catch (e) {
                if (e.status !== 401) {
                    throw e;
                }
                // The daemon restarted with a new token: fetch it once and try again.
                await this.api.fetchToken();
                ev = await this.api.post('/api/v1/events', { message });
            }
            this.add([ev]);
            input.value = '';
            setText(status, `posted as event #${ev?.seq ?? '?'}`);
        } catch (e) {
            setText(status, `not posted: ${e.message}`);
        } finally {
            $('#note-submit').disabled = false;
        }
    }
}
