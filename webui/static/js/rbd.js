// Ceph panel (issue 15): per rbd LUN, the cluster's health as this gateway last saw it (a badge
// with the health checks), every gateway of the array (state, alive, the age of its last
// heartbeat) and OSD latency (per OSD from `osd perf` and the OSDs' perf counters, and this
// gateway's own heartbeat writes). Data: the LUNs' `rbd` object (webui/API.md) from
// GET /api/v1/targets at start, then GET /api/v1/targets/{target}/luns/{id} every 2 s per rbd
// LUN while the page shows any (the daemon answers from its cache, never waiting for the
// cluster). Without rbd LUNs the panel and its link stay hidden and nothing is polled.
import { h, setText, updateRows } from './dom.js';
import { fmtBytes, fmtCount } from './format.js';
import { shortTarget } from './labels.js';
import { stateLabel } from './paths.js';

const $ = (sel) => document.querySelector(sel);
export const POLL_MS = 2000;

// "0.42 ms", "12.3 ms", "—" for null (no operation in the interval, or not reported).
export function fmtMs(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) {
        return '—';
    }
    const v = Number(ms);
    if (v >= 1000) {
        return `${(v / 1000).toFixed(2)} s`;
    }
    return `${v.toFixed(v < 10 ? 2 : 1)} ms`;
}

// "812 ms ago", "3.4 s ago", "never"
export function fmtAge(ms) {
    if (ms === null || ms === undefined) {
        return 'never';
    }
    return ms < 1000 ? `${Math.round(ms)} ms ago` : `${(ms / 1000).toFixed(1)} s ago`;
}

// The badge's class and text for a cluster object of the API.
export function healthBadge(cluster) {
    if (cluster?.state === 'pending') {
        return { cls: 'health-pending', text: 'asking…' };
    }
    if (!cluster || cluster.state !== 'ok') {
        return { cls: 'health-unreachable', text: 'unreachable' };
    }
    const h = cluster.health ?? '?';
    const cls = h === 'HEALTH_OK' ? 'health-ok' : h === 'HEALTH_WARN' ? 'health-warn' : 'health-err';
    return { cls, text: h };
}

export class RbdPanel {
    constructor(api) {
        this.api = api;
        this.luns = [];          // [{target, id}]
        this.cards = new Map();  // `${target}/${id}` -> the card's elements
        this.timer = null;
    }

    // From GET /api/v1/targets: the rbd LUNs shown, each rendered from the object it has.
    setTargets(targets) {
        const luns = [];
        for (const t of targets ?? []) {
            for (const l of t.luns ?? []) {
                if (l.rbd) {
                    luns.push({ target: t.name, id: l.id, rbd: l.rbd });
                }
            }
        }
        this.luns = luns.map(({ target, id }) => ({ target, id }));
        const keep = new Set(this.luns.map((l) => `${l.target}/${l.id}`));
        for (const [key, card] of this.cards) {
            if (!keep.has(key)) {
                card.root.remove();
                this.cards.delete(key);
            }
        }
        $('#rbd').hidden = luns.length === 0;
        $('#nav-rbd').hidden = luns.length === 0;
        for (const l of luns) {
            this.render(l.target, l.id, l.rbd);
        }
        if (luns.length > 0 && !this.timer) {
            this.timer = setInterval(() => this.poll(), POLL_MS);
        } else if (luns.length === 0 && this.timer) {
            clearInterval(this.timer);
            this.timer = null;
        }
    }

    async poll() {
        if (document.hidden) {
            return;
        }
        const answers = await Promise.allSettled(this.luns.map((l) =>
            this.api.get(`/api/v1/targets/${encodeURIComponent(l.target)}/luns/${l.id}`)));
        let error = '';
        answers.forEach((a, i) => {
            const l = this.luns[i];
            if (a.status === 'fulfilled' && a.value?.rbd) {
                this.render(l.target, l.id, a.value.rbd);
            } else if (a.status === 'rejected') {
                error = `cannot load LUN ${l.id} of ${shortTarget(l.target)}: ${a.reason.message}`;
            }
        });
        const box = $('#rbd-error');
        setText(box, error);
        box.hidden = !error;
    }

    card(target, id) {
        const key = `${target}/${id}`;
        let c = this.cards.get(key);
        if (c) {
            return c;
        }
        c = {
            title: h('span', { class: 'rbd-title' }),
            image: h('span', { class: 'muted rbd-image' }),
            badge: h('span', { class: 'tag health' }),
            summary: h('span', { class: 'rbd-summary' }),
            stale: h('span', { class: 'tag stale', hidden: true }, 'stale'),
            error: h('div', { class: 'form-error rbd-cluster-error', hidden: true }),
            checks: h('ul', { class: 'rbd-checks' }),
            gateways: h('tbody'),
            gatewaysCard: null,
            osds: h('tbody'),
            heartbeat: h('p', { class: 'rbd-heartbeat' }),
            latencyError: h('div', { class: 'muted rbd-latency-error', hidden: true }),
        };
        c.gatewaysCard = h('div', { class: 'rbd-gateways-box' },
            h('h4', {}, 'Gateways ', h('span', { class: 'muted' }, 'the target port groups of the array, as this gateway sees them in the image\'s records')),
            h('div', { class: 'scroll-x' }, h('table', { class: 'rbd-gateways' },
                h('thead', {}, h('tr', {}, ...['Group', 'Name', 'Portals', 'State', 'Alive', 'Last beat', 'Gateway'].map((t) => h('th', {}, t)))),
                c.gateways)));
        c.root = h('div', { class: 'card rbd-lun', dataset: { key } },
            h('h3', {}, c.title, ' ', c.image),
            h('div', { class: 'rbd-health' }, c.badge, ' ', c.summary, ' ', c.stale),
            c.error, c.checks,
            c.gatewaysCard,
            h('h4', {}, 'OSD latency ', h('span', { class: 'muted' }, '`osd perf` commit/apply (needs a manager; memstore reports 0) and each OSD\'s mean client op latency over the last refresh')),
            h('div', { class: 'scroll-x' }, h('table', { class: 'rbd-osds' },
                h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'OSD'), h('th', {}, 'Up / in'),
                    h('th', { class: 'num' }, 'Commit'), h('th', { class: 'num' }, 'Apply'),
                    h('th', { class: 'num' }, 'Write'), h('th', { class: 'num' }, 'Writes'),
                    h('th', { class: 'num' }, 'Read'), h('th', { class: 'num' }, 'Reads'))),
                c.osds)),
            c.latencyError,
            c.heartbeat);
        $('#rbd-luns').append(c.root);
        this.cards.set(key, c);
        return c;
    }

    render(target, id, rbd) {
        const c = this.card(target, id);
        const cl = rbd.cluster ?? {};
        setText(c.title, `${shortTarget(target)} / LUN ${id}`);
        c.title.title = target;
        setText(c.image, `rbd ${rbd.pool}/${rbd.image} · id ${rbd.image_id || '?'} · objects of ${fmtBytes(rbd.object_size)}`);
        const badge = healthBadge(cl);
        c.badge.className = `tag health ${badge.cls}`;
        c.badge.dataset.health = badge.text;
        setText(c.badge, badge.text);
        const o = cl.osds ?? {};
        const refreshed = `refreshed ${fmtAge(cl.refreshed_ms_ago)}${cl.refresh_took_ms ? ` (took ${cl.refresh_took_ms} ms)` : ''}`;
        setText(c.summary, cl.state === 'ok'
            ? `OSDs ${o.up ?? '?'} up / ${o.in ?? '?'} in of ${o.total ?? '?'} · fsid ${cl.fsid ?? '?'} · ${cl.manager ? 'manager up' : 'no manager'} · ${refreshed}`
            : refreshed);
        // An answer older than three refreshes: the cluster is slow to answer right now.
        const stale = cl.refreshed_ms_ago !== null && cl.refreshed_ms_ago !== undefined &&
            cl.refresh_interval_ms > 0 && cl.refreshed_ms_ago > 3 * cl.refresh_interval_ms;
        c.stale.hidden = !stale;
        c.stale.title = stale ? 'the cluster has not answered the last refreshes; this is an older answer' : '';
        setText(c.error, cl.state === 'unreachable' ? (cl.error ?? 'unreachable') : '');
        c.error.hidden = cl.state !== 'unreachable';
        const checks = cl.checks ?? [];
        c.checks.replaceChildren(...checks.map((k) => h('li', { class: k.severity === 'HEALTH_ERR' ? 'bad' : 'warn', dataset: { code: k.code } },
            h('span', { class: 'mono' }, k.code), ': ', k.summary ?? '', h('span', { class: 'muted' }, ` (${k.severity ?? '?'})`))));
        c.checks.hidden = checks.length === 0;

        const gateways = rbd.gateways ?? [];
        c.gatewaysCard.hidden = gateways.length === 0;
        updateRows(c.gateways, gateways.map((g) => [String(g.group), [
            { text: g.group, class: 'num' },
            { text: g.name ?? '' },
            { text: (g.portals ?? []).join(', '), class: 'mono' },
            { node: h('span', { class: `tag alua alua-${g.state}` }, stateLabel(g.state)), title: g.shared_state ? `shared record: ${stateLabel(g.shared_state)}` : 'no shared record yet' },
            { text: g.alive ? 'alive' : 'dead', class: g.alive ? 'flag on' : 'bad' },
            { text: fmtAge(g.last_beat_age_ms), class: 'num' },
            { text: `${g.this_gateway ? 'this gateway · ' : ''}${g.description ?? ''}`, class: g.this_gateway ? 'self' : 'muted' },
        ], g.this_gateway ? 'self' : '']), 'no gateway seen yet', 7);

        const lat = rbd.osd_latency ?? {};
        updateRows(c.osds, (lat.osds ?? []).map((d) => [String(d.id), [
            { text: `osd.${d.id}`, class: 'num' },
            { text: `${d.up ? 'up' : 'down'} / ${d.in ? 'in' : 'out'}`, class: d.up && d.in ? 'flag on' : 'bad', title: d.error ?? '' },
            { text: fmtMs(d.commit_latency_ms), class: 'num' },
            { text: fmtMs(d.apply_latency_ms), class: 'num' },
            { text: fmtMs(d.write_latency_ms), class: 'num' },
            { text: fmtCount(d.writes), class: 'num' },
            { text: fmtMs(d.read_latency_ms), class: 'num' },
            { text: fmtCount(d.reads), class: 'num' },
        ]]), cl.state === 'ok' ? 'no OSD' : cl.state === 'pending' ? 'asking the cluster…' : 'unknown: the cluster does not answer', 8);
        setText(c.latencyError, lat.error ?? '');
        c.latencyError.hidden = !lat.error;
        const hb = lat.heartbeat;
        c.heartbeat.hidden = !hb;
        if (hb) {
            setText(c.heartbeat, `This gateway's heartbeat writes (one RADOS write a round), last ${hb.window_s} s: ` +
                `last ${fmtMs(hb.last_ms)}${hb.last_failed ? ' (failed)' : ''} · p50 ${fmtMs(hb.p50_ms)} · p99 ${fmtMs(hb.p99_ms)} · max ${fmtMs(hb.max_ms)} · ` +
                `${fmtCount(hb.samples)} written, ${fmtCount(hb.failed_in_window)} failed · failed rounds ${fmtCount(hb.failed_rounds)} of ${fmtCount(hb.rounds)}`);
            c.heartbeat.className = hb.failed_in_window > 0 ? 'rbd-heartbeat warn' : 'rbd-heartbeat';
        }
    }
}
