// Overview: targets, portals, LUNs and sessions; the targets' and LUNs' rows carry the buttons
// of the configuration actions (config.js handles their clicks).
import { updateRows, setText, h } from './dom.js';
import { fmtBytes, fmtCount, fmtTime, fmtRatio } from './format.js';
import { shortTarget } from './labels.js';

const $ = (sel) => document.querySelector(sel);

export function renderTargets(targets, portals) {
    const rows = (targets ?? []).map((t) => [t.name, [
        { text: t.name, class: 'mono' },
        t.alias ?? '',
        { text: t.portal_group_tag ?? '', class: 'num' },
        { text: (t.luns ?? []).length, class: 'num' },
        { node: h('button', { type: 'button', class: 'danger', title: 'remove the target (its LUNs\' data is kept)', dataset: { action: 'target-remove', target: t.name } }, 'remove') },
    ]]);
    updateRows($('#targets-table tbody'), rows, 'no targets', 5);
    const lunRows = [];
    for (const t of targets ?? []) {
        for (const l of t.luns ?? []) {
            lunRows.push([`${t.name}/${l.id}`, [
                { text: shortTarget(t.name), title: t.name },
                { text: l.id, class: 'num' },
                { text: fmtBytes(l.size_bytes), class: 'num', title: `${fmtCount(l.block_count)} blocks` },
                { text: l.block_size, class: 'num' },
                l.store ?? '',
                {
                    text: `${fmtBytes(l.allocated_bytes)} (${fmtRatio(l.allocated_bytes, l.size_bytes)})`,
                    class: 'num',
                },
                { text: l.write_cache ? 'on' : 'off', class: l.write_cache ? 'flag on' : 'flag' },
                { text: l.read_only ? 'yes' : 'no', class: l.read_only ? 'flag warn' : 'flag' },
                { node: h('span', { class: 'row-actions' },
                    h('button', { type: 'button', dataset: { action: 'lun-grow', target: t.name, lun: l.id, size: fmtBytes(l.size_bytes) } }, 'grow…'),
                    h('button', { type: 'button', class: 'danger', title: 'remove the LUN (its data is kept)', dataset: { action: 'lun-remove', target: t.name, lun: l.id } }, 'remove')) },
            ]]);
        }
    }
    updateRows($('#luns-table tbody'), lunRows, 'no LUNs', 9);
    const p = (portals ?? []).map((x) => x.address).join(', ');
    setText($('#portals'), p ? `portals ${p}` : '');
}

export function renderSessions(sessions) {
    const list = [...(sessions ?? [])].sort((a, b) =>
        (a.initiator_name ?? '').localeCompare(b.initiator_name ?? '') || String(a.isid).localeCompare(String(b.isid)));
    const rows = list.map((s) => {
        const p = s.params ?? {};
        const digest = (d) => (d && d !== 'None' ? d : 'none');
        return [`${s.target}|${s.tsih}|${s.initiator_port ?? s.isid}`, [
            { text: s.initiator_name ?? '?', class: 'mono', title: s.initiator_port ?? '' },
            { text: s.isid ?? '', class: 'mono' },
            { text: s.address ?? '', class: 'mono' },
            { text: shortTarget(s.target), title: s.target },
            { text: s.tsih ?? '', class: 'num' },
            { text: fmtTime(s.login_time, true), title: s.login_time ?? '' },
            { text: `${digest(s.header_digest)} / ${digest(s.data_digest)}`, class: (s.header_digest !== 'None' || s.data_digest !== 'None') ? 'flag on' : 'flag' },
            { text: s.commands_in_flight ?? 0, class: s.commands_in_flight > 0 ? 'num hot' : 'num' },
            { text: `${fmtCount(p.max_recv_data_segment_length)} / ${fmtCount(p.target_max_recv_data_segment_length)}`, class: 'num' },
            { text: fmtCount(p.max_burst_length), class: 'num', title: `FirstBurstLength ${fmtCount(p.first_burst_length)}, MaxOutstandingR2T ${p.max_outstanding_r2t ?? '?'}` },
            `${p.immediate_data ? 'yes' : 'no'} / ${p.initial_r2t ? 'yes' : 'no'}`,
        ]];
    });
    updateRows($('#sessions-table tbody'), rows, 'no sessions logged in', 11);
    setText($('#sessions-count'), list.length);
}

export function renderBanner(text) {
    const b = $('#banner');
    if (!text) {
        b.hidden = true;
        return;
    }
    b.replaceChildren(h('span', {}, text));
    b.hidden = false;
}
