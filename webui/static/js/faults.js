// Fault injection panel (target/fault through /api/v1/faults, webui/API.md): the rules with their
// scope, trigger and hit counts, a form to add one, a toggle and a delete per rule, and the
// presets. Ticks carry no rule counters, so the list is polled every 2 s while injection is on
// and the tab is visible. The API is the one validator: its error messages (they name the
// field) are shown next to the form as they come.
import { h, setText, updateRows } from './dom.js';
import { fmtCount, fmtTime } from './format.js';
import { shortTarget } from './labels.js';

const $ = (sel) => document.querySelector(sel);
const POLL_MS = 2000;
const ATS_ONLY = new Set(['false_miscompare', 'miscompare_after_write']);
const HINTS = {
    false_miscompare: 'ATS answers MISCOMPARE although the block matched, and writes nothing (a firmware that lies about the compare).',
    miscompare_after_write: 'ATS writes the new image, then answers MISCOMPARE: the host\'s retry meets its own write.',
    delay: 'Holds the command before execution, or executes it at once and holds the status (ESXi aborts after about 8 s).',
    drop_status: 'Executes the command and never answers: the initiator times out, aborts and retries.',
    status: 'Answers BUSY, TASK SET FULL or CHECK CONDITION with the chosen sense instead of executing.',
    drop_connection: 'Closes the connection on the command: a path flap, the initiator logs in again.',
    stale_read: 'Reads return a block\'s image from before its last write, for a while after it (a cache node that was not invalidated).',
    alua_state: 'Puts a target port group in a state while the rule lasts, then back (an implicit change: unit attention 2A/06 on every I_T nexus).',
    alua_flap: 'The group alternates between two states every period: an ALUA transition storm.',
    path_down: 'The group\'s portals reset every connection (TCP RST) and every new one while the rule lasts: a dead controller.',
    path_blackhole: 'The group\'s connections stay open and nothing is answered until the rule ends (ESXi: All Paths Down after 140 s).',
    stale_write_after_failover: 'A write through the group is never answered and lands later, after writes from other paths (the in-flight write of a failed controller).',
    gateway_stall: 'This gateway holds every I/O arriving during a stall to its end, as an OSD under recovery does; what the host aborts meanwhile still lands.',
};
const PATH_ACTIONS = new Set(['alua_state', 'alua_flap', 'path_down', 'path_blackhole', 'stale_write_after_failover']);
const STATE_LABELS = { active_optimized: 'active/optimized', active_non_optimized: 'active/non-optimized', standby: 'standby', unavailable: 'unavailable' };
const STATUS_NAMES = { busy: 'BUSY', task_set_full: 'TASK SET FULL', check_condition: 'CHECK CONDITION' };

const hex2 = (n) => Number(n ?? 0).toString(16).toUpperCase().padStart(2, '0');
const ordinal = (n) => (n % 10 === 1 && n % 100 !== 11 ? `${n}st` : n % 10 === 2 && n % 100 !== 12 ? `${n}nd`
    : n % 10 === 3 && n % 100 !== 13 ? `${n}rd` : `${n}th`);

// lba_last is UINT64_MAX for "to the end" (a JSON number the page reads rounded).
function isLbaEnd(v) {
    return v === null || v === undefined || Number(v) >= 2 ** 53;
}

export function describeScope(r) {
    const parts = [];
    parts.push(r.target ? shortTarget(r.target) : 'any target');
    if (PATH_ACTIONS.has(r.action)) {
        parts.push(Number(r.group ?? 0) > 0 ? `group ${r.group}` : 'every group');
        if (r.action !== 'stale_write_after_failover') {
            // A group's state or its connections: LUN, LBA and command do not apply.
            parts.push(r.initiator ? `initiator ${r.initiator}` : 'any initiator');
            return parts.join(' · ');
        }
    }
    parts.push(r.lun === null || r.lun === undefined ? 'any LUN' : `LUN ${r.lun}`);
    const first = Number(r.lba_first ?? 0);
    if (first !== 0 || !isLbaEnd(r.lba_last)) {
        parts.push(isLbaEnd(r.lba_last) ? `LBA ${first}…end` : first === Number(r.lba_last) ? `LBA ${first}` : `LBA ${first}…${r.lba_last}`);
    }
    parts.push(r.initiator ? `initiator ${r.initiator}` : 'any initiator');
    parts.push(r.command === 'any' ? 'any command' : r.command === 'ats' ? 'ATS' : `${r.command}s`);
    return parts.join(' · ');
}

export function describeTrigger(r) {
    const parts = [];
    const p = Number(r.probability ?? 1);
    parts.push(p >= 1 ? 'always' : `p ${p}`);
    if (Number(r.every ?? 1) > 1) {
        parts.push(`every ${ordinal(Number(r.every))}`);
    }
    if (Number(r.max_hits ?? 0) > 0) {
        parts.push(`at most ${fmtCount(r.max_hits)} hits`);
    }
    if (Number(r.active_seconds ?? 0) > 0) {
        parts.push(`for ${r.active_seconds} s`);
    }
    return parts.join(' · ');
}

export function describeAction(r) {
    if (r.action === 'delay') {
        const spread = Number(r.delay_p99_ms ?? 0) > 0 ? `${r.delay_ms}–${r.delay_p99_ms} ms (p50–p99)` : `${r.delay_ms} ms`;
        return `delay ${spread} ${r.stage === 'before_status' ? 'before status' : 'before execute'}`;
    }
    if (r.action === 'status') {
        const name = STATUS_NAMES[r.status] ?? r.status;
        return r.status === 'check_condition' ? `${name} ${hex2(r.sense_key)}/${hex2(r.asc)}/${hex2(r.ascq)}` : name;
    }
    if (r.action === 'stale_read') {
        return `stale read for ${r.stale_ms ?? '?'} ms after a write`;
    }
    const state = (x) => STATE_LABELS[x] ?? x ?? '?';
    if (r.action === 'alua_state') {
        return `ALUA ${state(r.state)}${Number(r.transition_ms ?? 0) > 0 ? ` after ${r.transition_ms} ms transitioning` : ''}`;
    }
    if (r.action === 'alua_flap') {
        return `ALUA flap ${state(r.state)} ⇄ ${state(r.state_b)} every ${r.period_ms ?? '?'} ms`;
    }
    if (r.action === 'stale_write_after_failover') {
        return `stale write: lands ${r.delay_ms ?? '?'} ms late`;
    }
    if (r.action === 'gateway_stall') {
        return `gateway stall ${r.delay_ms ?? '?'} ms every ${r.period_ms ?? '?'} ms`;
    }
    return String(r.action ?? '?').replaceAll('_', ' ');
}

export class FaultsPanel {
    constructor(api) {
        this.api = api;
        this.enabled = null;         // null until the first answer; then GET /faults' "enabled"
        this.controls = new Map();   // rule id -> its nodes, kept: a poll never swaps a button mid-click
        this.presets = [];
        this.timer = null;
        this.loading = null;
        $('#fault-action').addEventListener('change', () => this.actionChanged(true));
        $('#fault-status-kind').addEventListener('change', () => this.actionChanged(false));
        $('#fault-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.addRule();
        });
        $('#fault-preset').addEventListener('change', () => this.showPreset());
        $('#fault-preset-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.applyPreset();
        });
        document.addEventListener('visibilitychange', () => {
            if (!document.hidden && this.enabled) {
                this.load().catch(() => null);
            }
        });
        this.actionChanged(true);
    }

    setTargets(targets) {
        const select = $('#fault-target');
        const chosen = select.value;
        select.replaceChildren(h('option', { value: '' }, 'any'),
            ...(targets ?? []).map((t) => h('option', { value: t.name, title: t.name }, shortTarget(t.name))));
        select.value = [...select.options].some((o) => o.value === chosen) ? chosen : '';
    }

    // GET /api/v1/faults (and the presets once): renders, then polls while injection is on.
    load() {
        if (!this.loading) {
            this.loading = this.fetchAll().finally(() => {
                this.loading = null;
            });
        }
        return this.loading;
    }

    // After a change: a load that starts after it (one already under way may predate it).
    refresh() {
        return this.loading ? this.loading.then(() => this.load()) : this.load();
    }

    async fetchAll() {
        clearTimeout(this.timer);
        try {
            const faults = await this.api.get('/api/v1/faults');
            this.showLoadError('');
            this.render(faults);
            if (this.enabled && this.presets.length === 0) {
                this.setPresets(await this.api.get('/api/v1/faults/presets'));
            }
        } catch (e) {
            this.showLoadError(`could not load the fault rules: ${e.message}`);
        }
        // Off in the config stays off until the daemon restarts (the stream's reconnect loads again).
        if (this.enabled !== false) {
            this.timer = setTimeout(() => {
                if (!document.hidden) {
                    this.load().catch(() => null);
                }
            }, POLL_MS);
        }
    }

    showLoadError(text) {
        const el = $('#faults-load-error');
        setText(el, text);
        el.hidden = !text;
    }

    render(faults) {
        this.enabled = Boolean(faults?.enabled);
        $('#faults-off').hidden = this.enabled;
        $('#faults-on').hidden = !this.enabled;
        if (!this.enabled) {
            return;
        }
        const rules = [...(faults.rules ?? [])].sort((a, b) => a.id - b.id);
        const live = new Set(rules.map((r) => r.id));
        for (const id of this.controls.keys()) {
            if (!live.has(id)) {
                this.controls.delete(id);
            }
        }
        const rows = rules.map((r) => {
            const c = this.controlsOf(r);
            return [String(r.id), [
                { text: r.id, class: 'num' },
                { text: r.name ?? '', class: 'mono' },
                { node: c.action, title: describeAction(r) },
                { text: describeScope(r), class: 'scope', title: r.target || '' },
                { text: describeTrigger(r), class: 'trigger' },
                { node: c.toggle },
                { text: fmtCount(r.matched), class: 'num matched', title: 'commands in scope' },
                { text: fmtCount(r.hits), class: r.hits > 0 ? 'num hits hot' : 'num hits', title: 'injections' },
                { text: fmtTime(r.created, true), title: r.created ?? '' },
                { node: c.remove },
            ], r.enabled ? 'on' : 'off'];
        });
        updateRows($('#faults-table tbody'), rows, 'no rules: the array answers exactly', 10);
        setText($('#faults-count'), rules.length);
    }

    // One set of nodes per rule, updated in place.
    controlsOf(r) {
        let c = this.controls.get(r.id);
        if (!c) {
            c = {
                action: h('span', {}),
                toggle: h('button', { type: 'button', class: 'toggle', onclick: () => this.toggle(r.id) }),
                remove: h('button', { type: 'button', class: 'danger', onclick: () => this.remove(r.id), title: 'delete: exact behaviour at once' }, 'Delete'),
            };
            this.controls.set(r.id, c);
        }
        c.enabled = Boolean(r.enabled);
        c.action.className = `tag act-${r.action}`;
        setText(c.action, describeAction(r));
        c.toggle.className = `toggle ${c.enabled ? 'on' : 'off'}`;
        c.toggle.setAttribute('aria-pressed', String(c.enabled));
        c.toggle.title = c.enabled ? 'injecting: click to disable' : 'not injecting: click to enable';
        setText(c.toggle, c.enabled ? 'enabled' : 'disabled');
        return c;
    }

    showStatus(text) {
        const el = $('#faults-status');
        setText(el, text);
        el.hidden = !text;
    }

    // PATCH /api/v1/faults/{id} {enabled}; DELETE /api/v1/faults/{id}. Errors show above the table.
    async toggle(id) {
        const c = this.controls.get(id);
        if (!c) {
            return;
        }
        c.toggle.disabled = true;
        try {
            await this.api.change('PATCH', `/api/v1/faults/${id}`, { enabled: !c.enabled });
            this.showStatus('');
        } catch (e) {
            this.showStatus(`rule ${id} not ${c.enabled ? 'disabled' : 'enabled'}: ${e.message}`);
        } finally {
            c.toggle.disabled = false;
        }
        await this.refresh();
    }

    async remove(id) {
        const c = this.controls.get(id);
        if (c) {
            c.remove.disabled = true;
        }
        try {
            await this.api.change('DELETE', `/api/v1/faults/${id}`);
            this.showStatus('');
        } catch (e) {
            this.showStatus(`rule ${id} not deleted: ${e.message}`);
            if (c) {
                c.remove.disabled = false;
            }
        }
        await this.refresh();
    }

    // The action decides which parameter fieldsets show and, for the ATS-only ones, the command.
    actionChanged(resetCommand) {
        const action = $('#fault-action').value;
        for (const fs of document.querySelectorAll('#fault-form fieldset[data-action]')) {
            fs.hidden = !fs.dataset.action.split(' ').includes(action);
        }
        for (const label of document.querySelectorAll('#fault-form [data-for]')) {
            label.hidden = !label.dataset.for.split(' ').includes(action);
        }
        $('#fault-sense').hidden = $('#fault-status-kind').value !== 'check_condition';
        setText($('#fault-action-hint'), HINTS[action] ?? '');
        if (resetCommand) {
            $('#fault-command').value = ATS_ONLY.has(action) ? 'ats' : action === 'stale_read' ? 'read'
                : action === 'stale_write_after_failover' ? 'write' : 'any';
        }
    }

    // The form as a FaultRuleSpec: empty fields are left out (the API's defaults), numbers are
    // sent as typed so the API's range checks answer; only what is not a number at all stops here.
    spec() {
        const action = $('#fault-action').value;
        const spec = {
            name: $('#fault-name').value.trim() || action.replaceAll('_', '-'),
            action,
            command: $('#fault-command').value,
            enabled: $('#fault-enabled').checked,
        };
        const errors = [];
        const num = (key, sel) => {
            const el = $(sel);
            const raw = el.value.trim();
            if (el.validity?.badInput || (raw !== '' && !Number.isFinite(Number(raw)))) {
                errors.push(`${key}: not a number`);
            } else if (raw !== '') {
                spec[key] = Number(raw);
            }
        };
        const text = (key, sel) => {
            const v = $(sel).value.trim();
            if (v) {
                spec[key] = v;
            }
        };
        text('target', '#fault-target');
        text('initiator', '#fault-initiator');
        num('lun', '#fault-lun');
        num('lba_first', '#fault-lba-first');
        num('lba_last', '#fault-lba-last');
        num('probability', '#fault-probability');
        num('every', '#fault-every');
        num('max_hits', '#fault-max-hits');
        num('active_seconds', '#fault-active');
        if (action === 'delay') {
            spec.stage = $('#fault-stage').value;
            num('delay_ms', '#fault-delay-ms');
            num('delay_p99_ms', '#fault-delay-p99-ms');
        }
        if (action === 'stale_read') {
            num('stale_ms', '#fault-stale-ms');
        }
        if (PATH_ACTIONS.has(action)) {
            num('group', '#fault-group');
        }
        if (action === 'alua_state' || action === 'alua_flap') {
            spec.state = $('#fault-alua-state').value;
        }
        if (action === 'alua_state') {
            num('transition_ms', '#fault-transition-ms');
        }
        if (action === 'alua_flap') {
            spec.state_b = $('#fault-alua-state-b').value;
            num('period_ms', '#fault-period-ms');
        }
        if (action === 'stale_write_after_failover') {
            num('delay_ms', '#fault-stale-write-ms');
        }
        if (action === 'gateway_stall') {
            num('delay_ms', '#fault-stall-ms');
            num('period_ms', '#fault-stall-period-ms');
        }
        if (action === 'status') {
            spec.status = $('#fault-status-kind').value;
            if (spec.status === 'check_condition') {
                num('sense_key', '#fault-sense-key');
                num('asc', '#fault-asc');
                num('ascq', '#fault-ascq');
            }
        }
        return { spec, errors };
    }

    showFormError(text) {
        const el = $('#fault-form-error');
        setText(el, text);
        el.hidden = !text;
    }

    // POST /api/v1/faults: 201 with the rule, or the API's 4xx message shown as it came.
    async addRule() {
        const { spec, errors } = this.spec();
        const status = $('#fault-form-status');
        if (errors.length) {
            this.showFormError(errors.join('\n'));
            setText(status, '');
            return;
        }
        $('#fault-submit').disabled = true;
        setText(status, 'adding…');
        try {
            const rule = await this.api.change('POST', '/api/v1/faults', spec);
            this.showFormError('');
            setText(status, `added rule #${rule?.id ?? '?'} "${rule?.name ?? spec.name}"`);
        } catch (e) {
            setText(status, '');
            this.showFormError(`rule not added (${e.status ?? 'no answer'}): ${e.message}`);
        } finally {
            $('#fault-submit').disabled = false;
        }
        await this.refresh();
    }

    setPresets(list) {
        this.presets = Array.isArray(list) ? list : [];
        const select = $('#fault-preset');
        select.replaceChildren(...this.presets.map((p) => h('option', { value: p.name }, p.name)));
        $('#fault-preset-apply').disabled = this.presets.length === 0;
        this.showPreset();
    }

    showPreset() {
        const p = this.presets.find((x) => x.name === $('#fault-preset').value);
        setText($('#fault-preset-description'), p?.description ?? '');
    }

    // POST /api/v1/faults/presets/{name}: the scenario's rules, added at once.
    async applyPreset() {
        const name = $('#fault-preset').value;
        const status = $('#fault-preset-status');
        const error = $('#fault-preset-error');
        if (!name) {
            return;
        }
        $('#fault-preset-apply').disabled = true;
        setText(status, 'applying…');
        try {
            const r = await this.api.change('POST', `/api/v1/faults/presets/${encodeURIComponent(name)}`);
            const ids = (r?.rules ?? []).map((x) => `#${x.id}`).join(', ');
            setText(status, `${name}: added rule${(r?.rules ?? []).length === 1 ? '' : 's'} ${ids}`);
            error.hidden = true;
        } catch (e) {
            setText(status, '');
            setText(error, `preset not applied (${e.status ?? 'no answer'}): ${e.message}`);
            error.hidden = false;
        } finally {
            $('#fault-preset-apply').disabled = false;
        }
        await this.refresh();
    }
}
