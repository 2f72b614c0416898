// The Overview's configuration actions (issue 19): add a target or a LUN, grow or remove a LUN,
// remove a target, an ACL entry added or removed (with ?force=true its sessions logged out), CHAP
// set or cleared, portals (portals.js) and `save configuration`, through the live-configuration
// REST calls (webui/API.md) with the page's bearer token. A change lives in the daemon's memory
// until saved. Every refusal is shown with the daemon's message; a removal refused because
// sessions are logged in (409) is offered again with ?force=true.
import { h, setText, updateRows } from './dom.js';
import { shortTarget } from './labels.js';
import { PortalsPanel } from './portals.js';

const $ = (sel) => document.querySelector(sel);
const enc = encodeURIComponent;

// A LunBody (the keys of a [[target.lun]] table) from the add form's fields: only the filled
// ones; a size of digits only is bytes, anything else ("16GiB") goes as the string.
export function lunBody({ id, backend, size, path, blockSize }) {
    const body = { id: id === '' ? undefined : Number(id), backend, size: /^\d+$/.test(size.trim()) ? Number(size.trim()) : size.trim() };
    if (path.trim() !== '') {
        body.path = path.trim();
    }
    if (blockSize !== '' && blockSize !== undefined) {
        body.block_size = Number(blockSize);
    }
    if (body.id === undefined) {
        delete body.id;
    }
    return body;
}

export class ConfigPanel {
    // onChanged(): reload what the Overview shows (targets, LUNs, portals) after a change.
    constructor(api, onChanged) {
        this.api = api;
        this.onChanged = onChanged;
        this.targets = [];
        this.access = null;  // {target, acl, chap} of the target the ACL/CHAP card shows
        this.portals = new PortalsPanel(this);
        $('#target-add-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.addTarget();
        });
        $('#lun-add-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.addLun();
        });
        $('#acl-add-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.addInitiator();
        });
        $('#chap-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.setChap();
        });
        $('#chap-clear').addEventListener('click', () => this.clearChap());
        $('#config-save').addEventListener('click', () => this.save());
        $('#access-target').addEventListener('change', () => this.loadAccess());
        // The row buttons of the targets, LUNs and ACL tables (rows are rebuilt on every load).
        for (const sel of ['#targets-table tbody', '#luns-table tbody', '#acl-table tbody']) {
            $(sel).addEventListener('click', (ev) => {
                const b = ev.target.closest('button[data-action]');
                if (b) {
                    this.rowAction(b.dataset);
                }
            });
        }
    }

    // GET /api/v1/targets and /portals, as the Overview just loaded them.
    setTargets(targets, portals) {
        this.targets = targets ?? [];
        this.portals.setPortals(portals, this.targets).catch(() => null);
        for (const id of ['#lun-add-target', '#access-target']) {
            const select = $(id);
            const was = select.value;
            select.replaceChildren(...this.targets.map((t) => h('option', { value: t.name }, t.name)));
            if (this.targets.some((t) => t.name === was)) {
                select.value = was;
            }
        }
        if (this.access?.target !== $('#access-target').value) {
            this.loadAccess();
        }
    }

    // The outcome line: what was done, or the daemon's refusal (role=alert).
    done(text) {
        $('#config-error').hidden = true;
        setText($('#config-status'), text);
    }

    failed(what, e) {
        setText($('#config-status'), '');
        const box = $('#config-error');
        box.dataset.status = String(e.status ?? '');
        setText(box, `${what}: ${e.message}${e.status ? ` (${e.status})` : ''}`);
        box.hidden = false;
    }

    // Runs one change; on success the Overview reloads. Returns the answer or null.
    async change(what, method, path, body, success) {
        try {
            const answer = await this.api.change(method, path, body);
            this.done(success(answer));
            await this.onChanged();
            return answer;
        } catch (e) {
            this.failed(what, e);
            return null;
        }
    }

    // A removal: asked first; a 409 (sessions logged in) is offered once more with force.
    async remove(what, path, success) {
        if (!window.confirm(`${what}?`)) {
            return;
        }
        try {
            const answer = await this.api.change('DELETE', path);
            this.done(success(answer));
        } catch (e) {
            if (e.status !== 409) {
                this.failed(`${what} refused`, e);
                return;
            }
            if (!window.confirm(`${e.message}\n\n${what} with force?`)) {
                this.failed(`${what} refused`, e);
                return;
            }
            try {
                const answer = await this.api.change('DELETE', `${path}${path.includes('?') ? '&' : '?'}force=true`);
                this.done(success(answer));
            } catch (e2) {
                this.failed(`${what} with force refused`, e2);
                return;
            }
        }
        await this.onChanged();
    }

    addTarget() {
        const name = $('#target-add-name').value.trim();
        const alias = $('#target-add-alias').value.trim();
        const body = { name };
        if (alias) {
            body.alias = alias;
        }
        return this.change('target not added', 'POST', '/api/v1/targets', body, (t) => {
            $('#target-add-name').value = '';
            $('#target-add-alias').value = '';
            return `target ${t?.name ?? name} added`;
        });
    }

    addLun() {
        const target = $('#lun-add-target').value;
        const body = lunBody({
            id: $('#lun-add-id').value, backend: $('#lun-add-backend').value, size: $('#lun-add-size').value,
            path: $('#lun-add-path').value, blockSize: $('#lun-add-block-size').value,
        });
        return this.change('LUN not added', 'POST', `/api/v1/targets/${enc(target)}/luns`, body,
                           (l) => `LUN ${l?.id ?? body.id} added to ${shortTarget(target)}`);
    }

    growLun(target, id, current) {
        const size = window.prompt(`Grow LUN ${id} of ${target} (now ${current}) to: a size in bytes or such as "16GiB"`);
        if (size === null || size.trim() === '') {
            return null;
        }
        const v = size.trim();
        return this.change(`LUN ${id} not grown`, 'PATCH', `/api/v1/targets/${enc(target)}/luns/${enc(id)}`,
                           { size: /^\d+$/.test(v) ? Number(v) : v }, () => `LUN ${id} of ${shortTarget(target)} grown to ${v}`);
    }

    rowAction(d) {
        if (d.action === 'lun-grow') {
            return this.growLun(d.target, d.lun, d.size);
        }
        if (d.action === 'lun-remove') {
            return this.remove(`remove LUN ${d.lun} of ${d.target}`, `/api/v1/targets/${enc(d.target)}/luns/${enc(d.lun)}`,
                               (r) => `LUN ${d.lun} of ${shortTarget(d.target)} removed (its data is kept; ${r?.sessions ?? 0} sessions told)`);
        }
        if (d.action === 'target-remove') {
            return this.remove(`remove target ${d.target}`, `/api/v1/targets/${enc(d.target)}`,
                               (r) => `target ${d.target} removed, ${r?.sessions_closed ?? 0} sessions closed`);
        }
        if (d.action === 'acl-remove') {
            return this.removeInitiator(d.target, d.initiator);
        }
        return null;
    }

    // ------------------------------------------------------------------------ ACL and CHAP
    async loadAccess() {
        const target = $('#access-target').value;
        if (!target) {
            this.access = null;
            this.renderAccess();
            return;
        }
        try {
            // GET /chap holds no secret but is a configuration read: the token goes along.
            const [acl, chap] = await Promise.all([
                this.api.change('GET', `/api/v1/targets/${enc(target)}/acl`),
                this.api.change('GET', `/api/v1/targets/${enc(target)}/chap`),
            ]);
            this.access = { target, acl, chap };
        } catch (e) {
            // Said in the card itself: the outcome line belongs to the engineer's last change.
            this.access = { target, acl: null, chap: null, error: e.message };
        }
        this.renderAccess();
    }

    renderAccess() {
        const a = this.access;
        const list = a?.acl?.allowed_initiators ?? [];
        updateRows($('#acl-table tbody'), list.map((who) => [who, [
            { text: who, class: 'mono' },
            { node: h('button', { type: 'button', class: 'danger', dataset: { action: 'acl-remove', target: a.target, initiator: who } }, 'remove') },
        ]]), a?.error ? `cannot read: ${a.error}` : a?.acl ? 'any initiator may log in (the list is empty)' : '—', 2);
        const c = a?.chap;
        setText($('#chap-current'), a?.error ? 'cannot read' : !c ? '—' : c.chap_user === null ? 'none: no CHAP asked at login'
            : `user ${c.chap_user}${c.mutual_chap_user !== null ? `, mutual user ${c.mutual_chap_user}` : ''}${c.require_mutual ? ', mutual required' : ''}`);
        $('#chap-current').dataset.user = c?.chap_user ?? '';
    }

    async addInitiator() {
        const target = $('#access-target').value;
        const initiator = $('#acl-initiator').value.trim();
        await this.change(`${initiator || 'initiator'} not allowed`, 'POST', `/api/v1/targets/${enc(target)}/acl`, { initiator }, () => {
            $('#acl-initiator').value = '';
            return `${initiator} may log in to ${shortTarget(target)}`;
        });
        await this.loadAccess();
    }

    // The initiator's sessions logged in to the target (GET /api/v1/sessions), null if unknown.
    async sessionsOf(target, initiator) {
        try {
            const list = await this.api.get('/api/v1/sessions');
            return (list ?? []).filter((s) => s.target === target && s.initiator_name === initiator).length;
        } catch {
            return null;
        }
    }

    // Removed from the list: its sessions stay logged in (only new logins are refused) unless the
    // force box is ticked, which removes with ?force=true and logs them out; the box then clears,
    // so a force is never carried over to the next removal. The answer is the Acl; the effect on
    // sessions is told from GET /api/v1/sessions before and after.
    async removeInitiator(target, initiator) {
        const force = $('#acl-force').checked;
        const before = await this.sessionsOf(target, initiator);
        const count = (n) => `${n} session${n === 1 ? '' : 's'}`;
        const now = before === null ? '' : `Logged in now: ${count(before)}. `;
        const last = this.access?.target === target && this.access?.acl?.allowed_initiators?.length === 1;
        const ask = [`remove ${initiator} from the ACL of ${target}?`,
                     force ? `${now}With force its sessions are logged out.` : `${now}Its sessions stay logged in; new logins are refused.`];
        if (last) {
            ask.push('It is the last name in the list: an empty list lets any initiator log in.');
        }
        if (!window.confirm(ask.join('\n\n'))) {
            return;
        }
        const what = `${initiator} not removed${force ? ' (with force)' : ''}`;
        let acl;
        try {
            acl = await this.api.change('DELETE', `/api/v1/targets/${enc(target)}/acl/${enc(initiator)}${force ? '?force=true' : ''}`);
        } catch (e) {
            this.failed(what, e);
            await this.loadAccess();
            return;
        }
        $('#acl-force').checked = false;
        const after = await this.sessionsOf(target, initiator);
        let effect;
        if (force) {
            effect = before === null || after === null ? 'its sessions logged out' : `${count(Math.max(0, before - after))} logged out`;
            effect += after ? `, ${after} still closing` : '';
        } else {
            effect = after === null ? 'its sessions stay logged in' : after === 0 ? 'no session of it was logged in'
                : `${count(after)} ${after === 1 ? 'stays' : 'stay'} logged in (new logins refused)`;
        }
        const open = acl?.any_initiator ? '; the list is empty: any initiator may log in' : '';
        this.done(`${initiator} removed from the ACL of ${shortTarget(target)}: ${effect}${open}`);
        await this.onChanged();
        await this.loadAccess();
    }

    async setChap() {
        const target = $('#access-target').value;
        const pair = (user, secret) => ($(user).value.trim() === '' ? null : { user: $(user).value.trim(), secret: $(secret).value });
        const body = {
            chap: pair('#chap-user', '#chap-secret'),
            mutual_chap: pair('#chap-mutual-user', '#chap-mutual-secret'),
            require_mutual: $('#chap-require-mutual').checked,
        };
        const ok = await this.change('CHAP not set', 'PUT', `/api/v1/targets/${enc(target)}/chap`, body,
                                     () => `CHAP of ${shortTarget(target)} set (new logins)`);
        if (ok) {
            for (const id of ['#chap-secret', '#chap-mutual-secret']) {
                $(id).value = '';  // secrets stay in the page no longer than needed
            }
        }
        await this.loadAccess();
    }

    async clearChap() {
        const target = $('#access-target').value;
        await this.change('CHAP not cleared', 'PUT', `/api/v1/targets/${enc(target)}/chap`, { chap: null, mutual_chap: null, require_mutual: false },
                          () => `CHAP of ${shortTarget(target)} cleared (new logins)`);
        await this.loadAccess();
    }

    save() {
        return this.change('configuration not saved', 'POST', '/api/v1/config/save', {},
                           (r) => `configuration saved to ${r?.path ?? '?'} (${r?.bytes ?? '?'} bytes)`);
    }
}
