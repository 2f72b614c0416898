// Paths panel (issue 14): each target's ALUA target port groups with a control to put one in a
// state (PATCH /api/v1/targets/{target}/port-groups/{id} with the page's bearer token), and per
// initiator its sessions grouped by target port group, with the group's state, the sessions'
// commands and errors, and the last failover. Data: GET /api/v1/paths at start, then the ticks'
// `paths`; ended sessions stay listed (muted) for keep_ended_s, then the daemon drops them.
import { h, setText, updateRows } from './dom.js';
import { fmtCount, fmtTime } from './format.js';
import { shortTarget } from './labels.js';

const $ = (sel) => document.querySelector(sel);
export const SETTABLE_STATES = ['active_optimized', 'active_non_optimized', 'standby', 'unavailable'];
const STATE_LABELS = {
    active_optimized: 'active/optimized',
    active_non_optimized: 'active/non-optimized',
    standby: 'standby',
    unavailable: 'unavailable',
    transitioning: 'transitioning',
};

export function stateLabel(state) {
    return STATE_LABELS[state] ?? state ?? '?';
}

function stateTag(state, pending) {
    const text = pending ? `${stateLabel(state)} → ${stateLabel(pending)}` : stateLabel(state);
    return h('span', { class: `tag alua alua-${state ?? 'unknown'}` }, text);
}

// "I/O moved from group 1 to 2" or "group 1 became standby", for a failover of /api/v1/paths.
export function describeFailover(f) {
    if (!f) {
        return 'none seen';
    }
    if (f.reason === 'io_moved') {
        return `I/O moved from group ${f.from_group} to ${f.group}`;
    }
    return `group ${f.group} became ${stateLabel(f.state)}`;
}

export class PathsPanel {
    constructor(api) {
        this.api = api;
        this.controls = new Map();  // `${target}|${id}` -> the group's state control (kept)
        this.paths = null;
    }

    async load() {
        try {
            this.set(await this.api.get('/api/v1/paths'));
        } catch (e) {
            this.showError(`cannot load the paths: ${e.message}`);
        }
    }

    showError(text) {
        const box = $('#paths-error');
        setText(box, text ?? '');
        box.hidden = !text;
    }

    set(paths) {
        if (!paths) {
            return;
        }
        this.paths = paths;
        this.renderGroups(paths.targets ?? []);
        this.renderInitiators(paths.initiators ?? []);
        setText($('#paths-keep'), paths.keep_ended_s ?? '?');
    }

    renderGroups(targets) {
        const rows = [];
        for (const t of targets) {
            for (const g of t.groups ?? []) {
                const key = `${t.target}|${g.id}`;
                rows.push([key, [
                    { text: shortTarget(t.target), title: t.target },
                    { text: g.id, class: 'num' },
                    { text: `${g.name ?? ''}${g.preferred ? ' (preferred)' : ''}` },
                    { node: this.stateCell(key, g) },
                    { text: `${g.status ?? ''} (${Number(g.status_code ?? 0).toString(16).padStart(2, '0')}h)`, class: 'muted', title: 'STATUS CODE: why the state last changed (SPC-4 §6.36 Table 264)' },
                    { text: (g.portals ?? []).join(', '), class: 'mono' },
                    { node: this.control(key, t.target, g) },
                ]]);
            }
        }
        updateRows($('#port-groups-table tbody'), rows, 'no targets', 7);
    }

    // The state cell's node is rebuilt only when the state changes (updateRows keeps a node
    // that is the same object).
    stateCell(key, g) {
        const c = this.controls.get(key);
        const sig = `${g.state}|${g.pending_state ?? ''}`;
        if (c && c.stateSig === sig) {
            return c.stateNode;
        }
        const node = h('span', { class: 'group-state', dataset: { state: g.state } }, stateTag(g.state, g.pending_state),
            g.pending_state && g.transition_ends ? h('span', { class: 'muted' }, ` until ${fmtTime(g.transition_ends)}`) : null);
        if (c) {
            c.stateSig = sig;
            c.stateNode = node;
        }
        return node;
    }

    // One form per group, kept across ticks so a choice being made is not reset.
    control(key, target, g) {
        let c = this.controls.get(key);
        if (c?.form) {
            return c.form;
        }
        const states = (g.supported_states ?? SETTABLE_STATES).filter((s) => SETTABLE_STATES.includes(s));
        const select = h('select', { class: 'group-state-select', 'aria-label': `state of group ${g.id}` },
            ...states.map((s) => h('option', { value: s }, stateLabel(s))));
        const transition = h('input', { type: 'number', min: 0, max: 600000, step: 1, value: 0, class: 'short group-transition', title: 'transitioning for this long first (ms); 0: at once' });
        const button = h('button', { type: 'submit', class: 'group-set' }, 'Set');
        const status = h('span', { class: 'muted group-status', role: 'status' });
        const form = h('form', { class: 'controls inline group-form', dataset: { target, group: g.id } },
            select, h('label', {}, transition, 'ms'), button, status);
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.setState(target, g.id, select.value, Number(transition.value || 0), button, status);
        });
        c = { ...(c ?? {}), form, stateSig: null, stateNode: null };
        this.controls.set(key, c);
        return form;
    }

    async setState(target, id, state, transitionMs, button, status) {
        if (!Number.isInteger(transitionMs) || transitionMs < 0 || transitionMs > 600000) {
            setText(status, 'transition: 0..600000 ms');
            return;
        }
        button.disabled = true;
        setText(status, 'setting…');
        try {
            const g = await this.api.change('PATCH', `/api/v1/targets/${encodeURIComponent(target)}/port-groups/${id}`,
                { state, transition_ms: transitionMs });
            setText(status, `now ${stateLabel(g?.state)}`);
            this.showError('');
            await this.load();
        } catch (e) {
            setText(status, '');
            this.showError(`group ${id} of ${shortTarget(target)} not changed: ${e.message}`);
        } finally {
            button.disabled = false;
        }
    }

    renderInitiators(initiators) {
        const tbody = $('#paths-table tbody');
        const rows = [];
        for (const ini of [...initiators].sort((a, b) => a.initiator_name.localeCompare(b.initiator_name))) {
            const f = ini.last_failover;
            rows.push(h('tr', { class: 'ini-head', dataset: { initiator: ini.initiator_name } },
                h('td', { colspan: 9 },
                    h('strong', { class: 'mono', title: ini.initiator_name }, ini.initiator_name),
                    h('span', { class: 'muted' }, ' · last failover: '),
                    h('span', { class: f ? 'failover warn' : 'failover muted', title: f ? `${f.time} (${f.target})` : '' },
                        f ? `${fmtTime(f.time, true)} ${describeFailover(f)}` : describeFailover(null)))));
            for (const p of ini.paths ?? []) {
                const sessions = p.sessions ?? [];
                const groupCells = [
                    h('td', { title: p.target }, shortTarget(p.target)),
                    h('td', {}, `${p.group}${p.name ? ' ' + p.name : ''}`, p.carries_io ? h('span', { class: 'tag io', title: 'the group that carried its last commands' }, 'I/O') : null),
                    h('td', {}, stateTag(p.state, p.pending_state)),
                ];
                if (sessions.length === 0) {
                    rows.push(h('tr', { class: 'path no-session', dataset: { initiator: ini.initiator_name, group: p.group } },
                        ...groupCells, h('td', { colspan: 6, class: 'muted' }, 'no session on this group')));
                    continue;
                }
                for (const s of sessions) {
                    rows.push(h('tr', { class: s.ended ? 'path ended' : 'path', dataset: { initiator: ini.initiator_name, group: p.group, tsih: s.tsih } },
                        ...groupCells.map((c) => c.cloneNode(true)),
                        h('td', { class: 'mono', title: s.initiator_port }, `${s.isid} ${s.address}`),
                        h('td', { class: 'mono' }, s.portal ?? ''),
                        h('td', { class: 'num' }, fmtCount(s.commands)),
                        h('td', { class: s.errors > 0 ? 'num warn' : 'num' }, fmtCount(s.errors)),
                        h('td', { class: 'num' }, s.commands_in_flight ?? 0),
                        h('td', { class: s.ended ? 'muted' : '' }, s.ended ? `ended ${fmtTime(s.ended, true)}` : `since ${fmtTime(s.login_time, true)}`)));
                }
            }
        }
        tbody.replaceChildren(...(rows.length ? rows : [h('tr', { class: 'empty' }, h('td', { colspan: 9 }, 'no initiator logged in'))]));
    }
}
