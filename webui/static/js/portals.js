// The Overview's portals (issue 19): listed (GET /api/v1/portals), added (address, port and, on
// an array with [[target_port_group]]s, the group the portal belongs to: every portal is in
// exactly one; GET /api/v1/targets/{t}/port-groups names them) and removed. A removal is asked
// first; a 409 (sessions use the portal) is offered once more with ?force=true, which logs them
// out, as a LUN's removal is. Changes go through ConfigPanel, so their outcome and refusals show
// in the Configuration card's one status line and the Overview reloads after each.
import { h, updateRows } from './dom.js';

const $ = (sel) => document.querySelector(sel);

// "a:p" in a path: ':' may stay as it is in a segment (RFC 3986 §3.3); the rest is encoded
// ("[::1]:3260" has brackets). The daemon decodes every segment.
export const portalPath = (address) => `/api/v1/portals/${encodeURIComponent(address).replace(/%3A/gi, ':')}`;

// A portal body from the form's fields: a port of digits goes as a number, anything else as
// typed, for the daemon to refuse with the field's name.
export function portalBody({ address, port, group }) {
    const p = port.trim();
    const body = { address: address.trim(), port: /^\d+$/.test(p) ? Number(p) : p };
    if (group !== null && group !== undefined && group !== '') {
        body.group = Number(group);
    }
    return body;
}

export class PortalsPanel {
    // config: the ConfigPanel whose change() and remove() run the requests.
    constructor(config) {
        this.config = config;
        this.portals = [];
        this.groups = null;  // [{id, name}] on an array with target port groups, else null
        this.loads = 0;      // the last load's number: an older one answering late is dropped
        $('#portal-add-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.add();
        });
        $('#portals-table tbody').addEventListener('click', (ev) => {
            const b = ev.target.closest('button[data-action="portal-remove"]');
            if (b) {
                this.remove(b.dataset.portal);
            }
        });
    }

    // GET /api/v1/portals and /targets, as the Overview just loaded them.
    async setPortals(portals, targets) {
        const load = ++this.loads;
        const list = portals ?? [];
        // A portal has "group" only when the array declares target port groups (API.md).
        const declared = list.some((p) => p.group !== undefined && p.group !== null);
        const groups = declared ? await this.loadGroups(list, targets) : null;
        if (load !== this.loads) {
            return;
        }
        this.portals = list;
        this.groups = groups;
        this.render();
    }

    // The groups are the array's, the same for every target: the first target's list names them.
    // Without a target, or when the list cannot be read, the ids the portals carry stand alone.
    async loadGroups(portals, targets) {
        const ids = [...new Set(portals.map((p) => p.group).filter((g) => g !== undefined && g !== null))];
        const fallback = ids.sort((a, b) => a - b).map((id) => ({ id, name: '' }));
        const first = (targets ?? [])[0]?.name;
        if (!first) {
            return fallback;
        }
        try {
            const answer = await this.config.api.get(`/api/v1/targets/${encodeURIComponent(first)}/port-groups`);
            const groups = (answer?.groups ?? []).map((g) => ({ id: g.id, name: g.name ?? '' }));
            return groups.length ? groups : fallback;
        } catch {
            return fallback;
        }
    }

    groupLabel(id) {
        const g = this.groups?.find((x) => x.id === id);
        return g?.name ? `${id} (${g.name})` : String(id);
    }

    render() {
        const rows = this.portals.map((p) => [p.address, [
            { text: p.address, class: 'mono' },
            p.group === undefined || p.group === null ? { text: '1 (implicit)', title: 'no [[target_port_group]]: one implicit group holds every portal' }
                                                      : this.groupLabel(p.group),
            p.remote ? { text: 'another gateway\'s', class: 'muted', title: 'listed, served by another gateway: removed there' }
                     : { node: h('button', { type: 'button', class: 'danger', dataset: { action: 'portal-remove', portal: p.address } }, 'remove') },
        ]]);
        updateRows($('#portals-table tbody'), rows, 'no portals', 3);
        const select = $('#portal-group');
        const was = select.value;
        select.replaceChildren(...(this.groups ?? []).map((g) => h('option', { value: String(g.id) }, this.groupLabel(g.id))));
        if ((this.groups ?? []).some((g) => String(g.id) === was)) {
            select.value = was;
        }
        $('#portal-group-label').hidden = this.groups === null;
    }

    add() {
        const body = portalBody({
            address: $('#portal-address').value, port: $('#portal-port').value, group: this.groups ? $('#portal-group').value : null,
        });
        return this.config.change('portal not added', 'POST', '/api/v1/portals', body, (r) => {
            $('#portal-address').value = '';
            const group = r?.group ?? body.group;
            return `portal ${r?.address ?? `${body.address}:${body.port}`} added${group !== undefined && group !== null ? ` to target port group ${this.groupLabel(group)}` : ''}`;
        });
    }

    remove(address) {
        return this.config.remove(`remove portal ${address}`, portalPath(address), (r) => {
            const n = r?.sessions_closed ?? 0;
            return `portal ${r?.portal ?? address} removed, ${n} session${n === 1 ? '' : 's'} closed`;
        });
    }
}
