// Unit tests of the Forensics panel's pure functions (webui/static/js/forensics.js): the
// miscompare filters, a row's image versions, the byte diff and its compact rows, what an image
// holds (VMFS records through vmfs.js, ats-counter's counter), and stepping through rows.
// Entries are shaped as GET /api/v1/forensics answers them (webui/API.md "ATS forensics").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as f from '../../../webui/static/js/forensics.js';
import { HB_FREE, HB_IN_USE } from '../../../webui/static/js/vmfs.js';

const origin = (name, address, port = 1) => ({
    initiator_name: `iqn.1998-01.com.vmware:${name}`,
    initiator_port: `iqn.1998-01.com.vmware:${name},i,0x00023d000001`,
    address,
    relative_target_port: port,
});

const NOW = Date.parse('2026-12-07T16:30:00.000Z');
const miscompare = (seq, cause, who, culprit, answered) => ({
    seq, cause, command: 'ats', target: 'iqn.2026-11.org.atsarray:lab', lun: 0, block: 2048, lba: 2048,
    origin: origin(who, '10.0.0.1:50001'), answered,
    culprit: culprit ? { seq: seq - 1, command: 'ats', origin: origin(culprit, '10.0.0.2:50002', 2) } : null,
});
const LIST = [
    miscompare(10, 'contention', 'esx-01', 'esx-02', '2026-12-07T16:29:30.000Z'),
    miscompare(9, 'late_retry', 'esx-03', null, '2026-12-07T16:20:00.000Z'),
    miscompare(8, 'unknown', 'esx-02', null, '2026-12-07T15:00:00.000Z'),
];
const seqs = (list) => list.map((m) => m.seq);

test('the cause filter keeps one cause; empty keeps all', () => {
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { cause: 'contention' }, NOW)), [10]);
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { cause: 'failover' }, NOW)), []);
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { cause: '' }, NOW)), [10, 9, 8]);
    assert.deepEqual(seqs(f.filterMiscompares(LIST, {}, NOW)), [10, 9, 8]);
});

test('the initiator filter is a case-insensitive substring of the host or its culprit', () => {
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { initiator: 'ESX-02' }, NOW)), [10, 8]);  // culprit of 10, host of 8
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { initiator: ' esx-03 ' }, NOW)), [9]);
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { initiator: '10.0.0.2' }, NOW)), [10]);  // the culprit's address
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { initiator: '0x00023d' }, NOW)), [10, 9, 8]);  // the port's ISID
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { initiator: 'esx-99' }, NOW)), []);
});

test('the time filter keeps the last N minutes; empty or 0 keeps any time; filters combine', () => {
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { minutes: '1' }, NOW)), [10]);
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { minutes: 15 }, NOW)), [10, 9]);
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { minutes: '' }, NOW)), [10, 9, 8]);
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { minutes: '0' }, NOW)), [10, 9, 8]);
    assert.deepEqual(seqs(f.filterMiscompares(LIST, { minutes: 120, initiator: 'esx-02', cause: 'unknown' }, NOW)), [8]);
    // Without an answer, the start or arrival counts; without any time, a time filter drops it.
    assert.equal(f.matchesFilter({ started: '2026-12-07T16:29:59.000Z' }, { minutes: 1 }, NOW), true);
    assert.equal(f.matchesFilter({}, { minutes: 1 }, NOW), false);
});

test('labels: ITTs as the daemon prints them, paths, unknown causes never become class names', () => {
    assert.equal(f.fmtItt(622879140), '0x252061a4');
    assert.equal(f.fmtItt(0), '0x00000000');
    assert.equal(f.fmtItt(0xffffffff), '0xffffffff');
    assert.equal(f.fmtItt(null), '—');
    assert.equal(f.pathLabel(origin('esx-01', '127.0.0.1:55970', 2)), '127.0.0.1:55970 · port 2');
    assert.equal(f.pathLabel({ address: '127.0.0.1:1' }), '127.0.0.1:1');
    assert.equal(f.causeClass('late_retry'), 'late_retry');
    assert.equal(f.causeClass('x" onmouseover="alert(1)'), 'unknown');
    assert.deepEqual(f.CAUSES, ['contention', 'late_retry', 'stale_read', 'failover', 'injected', 'unknown']);
});

// A block's history as ats-counter makes it: reads, a good ATS, a miscompare (contention).
const ENTRIES = [
    { seq: 1, command: 'read', outcome: 'good', compare_image: 0, on_disk_image: 70, set_image: 0 },
    { seq: 2, command: 'ats', outcome: 'good', compare_image: 70, on_disk_image: 70, set_image: 71 },
    { seq: 3, command: 'ats', outcome: 'miscompare', compare_image: 70, on_disk_image: 71, set_image: 71, cause: 'contention' },
    { seq: 4, command: 'read', outcome: 'good', compare_image: 0, on_disk_image: 71, set_image: 0 },
    { seq: 5, command: 'write', outcome: 'good', compare_image: 0, on_disk_image: 0, set_image: 72 },
];

test('a row\'s versions: the block before it, then its compare, on-disk and set images', () => {
    assert.equal(f.imageAfter(ENTRIES[1]), 71);   // a good ATS wrote its set image
    assert.equal(f.imageAfter(ENTRIES[2]), 71);   // a miscompare left the on-disk one
    assert.equal(f.imageAfter(ENTRIES[0]), 70);
    assert.deepEqual(f.imageSteps(ENTRIES, 0), { before: 0, steps: [{ role: 'on_disk', id: 70, prev: 0 }] });
    assert.deepEqual(f.imageSteps(ENTRIES, 1), { before: 70, steps: [
        { role: 'compare', id: 70, prev: 70 }, { role: 'on_disk', id: 70, prev: 70 }, { role: 'set', id: 71, prev: 70 }] });
    assert.deepEqual(f.imageSteps(ENTRIES, 2), { before: 71, steps: [
        { role: 'compare', id: 70, prev: 71 }, { role: 'on_disk', id: 71, prev: 70 }, { role: 'set', id: 71, prev: 71 }] });
    assert.deepEqual(f.imageSteps(ENTRIES, 4), { before: 71, steps: [{ role: 'set', id: 72, prev: 71 }] });
    assert.deepEqual(f.imageSteps([], 0), { before: 0, steps: [] });
});

test('the byte diff names every changed offset, and a byte only one image has', () => {
    assert.deepEqual(f.byteDiff(Uint8Array.from([1, 2, 3]), Uint8Array.from([1, 9, 3])), [1]);
    assert.deepEqual(f.byteDiff(Uint8Array.from([1, 2]), Uint8Array.from([1, 2, 0])), [2]);
    assert.deepEqual(f.byteDiff(Uint8Array.from([1, 2]), Uint8Array.from([1, 2])), []);
});

test('the compact hex diff shows only the rows with changes, the old value of each changed byte', () => {
    const a = new Uint8Array(512);
    const b = new Uint8Array(512);
    b[0] = 0x46;
    b[0x21] = 0x01;
    b[0x1ff] = 0xff;
    const d = f.diffRows(a, b);
    assert.equal(d.changed, 3);
    assert.deepEqual(d.rows.map((r) => r.offset), [0x00, 0x20, 0x1f0]);
    assert.equal(d.more, 0);
    assert.deepEqual(d.rows[0].cells[0], { value: 0x46, prev: 0, changed: true });
    assert.deepEqual(d.rows[0].cells[1], { value: 0, prev: 0, changed: false });
    assert.equal(d.rows[1].cells.filter((c) => c.changed).length, 1);
    assert.equal(d.rows[2].cells.length, 16);
    // At most maxRows rows; the others are counted.
    const many = new Uint8Array(512).fill(1);
    const m = f.diffRows(a, many, { maxRows: 4 });
    assert.equal(m.changed, 512);
    assert.equal(m.rows.length, 4);
    assert.equal(m.more, 28);
    // Without a previous version: the first rows, nothing marked.
    const first = f.diffRows(null, b);
    assert.equal(first.changed, 0);
    assert.deepEqual(first.rows.map((r) => r.offset), [0, 16]);
    assert.ok(first.rows.every((r) => r.cells.every((c) => !c.changed && c.prev === null)));
});

function put32(b, off, v) { new DataView(b.buffer).setUint32(off, v, true); }
function put64(b, off, v) { new DataView(b.buffer).setBigUint64(off, BigInt(v), true); }
const OWNER = Uint8Array.from([0xa9, 0x1b, 0x02, 0x6b, 0xc5, 0xf1, 0x63, 0x62, 0xe6, 0xa9, 0x00, 0x50, 0x56, 0xa7, 0x00, 0x03]);

function heartbeat({ state = HB_IN_USE, gen = 1, stamp = 1359310000880, owner = OWNER } = {}) {
    const b = new Uint8Array(512);
    put32(b, 0x00, state);
    put64(b, 0x04, 0x100000);
    put64(b, 0x0c, gen);
    put64(b, 0x14, stamp);
    b.set(owner, 0x1c);
    put32(b, 0x2c, 4120);
    return b;
}

test('a heartbeat slot is decoded field by field, and the changed fields are named', () => {
    const free = heartbeat({ state: HB_FREE, gen: 0, stamp: 0, owner: new Uint8Array(16) });
    const used = heartbeat();
    const d = f.describeImage(used);
    assert.equal(d.kind, 'heartbeat');
    const fields = Object.fromEntries(d.fields);
    assert.equal(fields.state, '0xabcdef02 (in use)');
    assert.equal(fields.addr, '0x100000');
    assert.equal(fields.gen, '1');
    assert.equal(fields.stamp, '1359310.000880 s');
    assert.match(fields.owner, /^6b021ba9-6263f1c5-a9e6-005056a70003 \(host 6b021ba9…:00:50:56:a7:00:03\)$/);
    assert.equal(fields.journal, '4120');
    assert.equal(Object.fromEntries(f.describeImage(free).fields).owner, 'nobody (zeroed)');
    assert.deepEqual(f.changedFields(free, used), ['state', 'gen', 'stamp', 'owner']);
    assert.deepEqual(f.changedFields(used, heartbeat({ stamp: 1359313000000 })), ['stamp']);
    assert.deepEqual(f.changedFields(null, used), []);
});

test('an on-disk lock is decoded field by field', () => {
    const b = new Uint8Array(512);
    put32(b, 0x00, 0x10c00001);
    put64(b, 0x04, 0x200000);
    put64(b, 0x0c, 0x100000);
    put64(b, 0x14, 1);
    put64(b, 0x1c, 10);
    put32(b, 0x24, 1);
    b.set(OWNER, 0x28);
    put64(b, 0x38, 1796659579);
    put32(b, 0x40, 1);
    const d = f.describeImage(b);
    assert.equal(d.kind, 'lock');
    const fields = Object.fromEntries(d.fields);
    assert.equal(fields.type, '0x10c00001 (file descriptor)');
    assert.equal(fields['hb addr'], '0x100000');
    assert.equal(fields.token, '10');
    assert.equal(fields.mode, '1 (exclusive)');
    assert.equal(fields.mtime, '1796659579');
    assert.equal(fields.holders, '1');
    const released = b.slice();
    put32(released, 0x24, 0);
    released.fill(0, 0x28, 0x38);
    assert.deepEqual(f.changedFields(b, released), ['mode', 'owner']);
});

test('other images: ats-counter\'s counter, zeros, data', () => {
    const counter = new Uint8Array(512);
    counter[0] = 0x45;
    assert.deepEqual(f.describeImage(counter), { kind: 'counter', label: 'a 64-bit counter (not a VMFS record)', fields: [['counter', '69']] });
    assert.equal(f.describeImage(new Uint8Array(512)).kind, 'zeros');
    const data = new Uint8Array(512).fill(0x41);
    assert.deepEqual(f.describeImage(data).fields, [['data', '512 of 512 bytes non-zero']]);
    assert.equal(f.describeImage(null).kind, 'none');
    assert.deepEqual(f.changedFields(counter, data), []);
});

test('the arrow keys step one row, clamped to the timeline', () => {
    assert.equal(f.stepIndex(3, 1, 5), 4);
    assert.equal(f.stepIndex(4, 1, 5), 4);
    assert.equal(f.stepIndex(0, -1, 5), 0);
    assert.equal(f.stepIndex(-1, 1, 5), 1);
    assert.equal(f.stepIndex(2, -1, 0), -1);
});
