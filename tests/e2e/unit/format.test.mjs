// Unit tests of the console's formatting, hex-dump model and tick history (webui/static/js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmtBytes, fmtUs, fmtRatio, fmtDuration, fmtTime, hexDumpModel, dumpLength } from '../../../webui/static/js/format.js';
import { TickHistory, perSecond, tickSeconds } from '../../../webui/static/js/history.js';
import { liveFirst } from '../../../webui/static/js/labels.js';
import { lunBody } from '../../../webui/static/js/config.js';
import { portalBody, portalPath } from '../../../webui/static/js/portals.js';

test('figures read as an engineer expects', () => {
    assert.equal(fmtBytes(512), '512 B');
    assert.equal(fmtBytes(8 * 1024 ** 3), '8.00 GiB');
    assert.equal(fmtBytes(1536 * 1024), '1.50 MiB');
    assert.equal(fmtUs(845.4), '845 µs');
    assert.equal(fmtUs(1234), '1.23 ms');
    assert.equal(fmtUs(45678), '45.7 ms');
    assert.equal(fmtUs(2500000), '2.50 s');
    assert.equal(fmtUs(null), '—');
    assert.equal(fmtRatio(1, 4), '25.0 %');
    assert.equal(fmtRatio(1, 300), '0.33 %');
    assert.equal(fmtRatio(0, 0), '—');
    assert.equal(fmtDuration(93784), '1d 02:03:04');
    assert.equal(fmtTime('2026-11-21T20:40:01.123Z'), '20:40:01.123');
    assert.equal(fmtTime('2026-11-21T20:40:01.123Z', true), '2026-11-21 20:40:01.123');
});

test('the hex dump marks differing bytes and their VMFS field', () => {
    const e = new Uint8Array(40);
    const a = new Uint8Array(40);
    a[0x0c] = 1;
    const rows = hexDumpModel(e, a, 'heartbeat', 32);
    assert.equal(rows.length, 2);
    assert.equal(rows[0].offset, 0);
    assert.equal(rows[0].actual[0x0c].diff, true);
    assert.equal(rows[0].actual[0x0c].field, 'gen');
    assert.equal(rows[0].expected[0x0b].diff, false);
    assert.equal(rows[1].expected[0x0c].field, 'owner');
    assert.equal(dumpLength(0x0c, 'heartbeat', 512), 64);
    assert.equal(dumpLength(0x1f0, null, 512), 512);
    assert.equal(dumpLength(-1, 'lock', 512), 80);
    assert.equal(dumpLength(3, null, 16), 16);
});

test('the tick history keeps 5 minutes, aligns series and leaves gaps', () => {
    const h = new TickHistory(300);
    h.push(1000, { a: 1 });
    h.push(1001, { a: 2, b: 5 });
    h.push(1002, { b: 6 });
    assert.deepEqual(h.values('a'), [1, 2, null]);
    assert.deepEqual(h.values('b'), [null, 5, 6]);
    assert.equal(h.push(1002, { a: 9 }), false, 'time must move forward');
    h.gap(1003);
    assert.deepEqual(h.values('b'), [null, 5, 6, null]);
    assert.equal(h.sum('b'), 11);
    h.push(1301.5, { b: 1 });
    assert.deepEqual(h.times, [1002, 1003, 1301.5]);
    assert.deepEqual(h.keys(), ['b'], 'a series with nothing left in the window goes');
});

// Issue 19: the first tick of a stream carries the totals and no deltas; no rate comes of it.
test('a tick without an interval gives no rate', () => {
    assert.equal(tickSeconds({ first: true, interval_ms: 0 }), null);
    assert.equal(tickSeconds({ interval_ms: 0 }), null, 'an older daemon\'s first tick');
    assert.equal(tickSeconds({}), null);
    assert.equal(tickSeconds({ first: false, interval_ms: 1000 }), 1);
    assert.equal(perSecond(196, null), null);
    assert.equal(perSecond(null, 1), null);
    assert.equal(perSecond(30, 0.5), 60);
});

test('live initiator ports come before ended ones, in their order otherwise', () => {
    const ports = [{ p: 'a', live: false }, { p: 'b', live: true }, { p: 'c', live: false }, { p: 'd' }];
    assert.deepEqual(liveFirst(ports).map((x) => x.p), ['b', 'd', 'a', 'c']);
});

test('the add-LUN form makes a LunBody of the filled fields', () => {
    assert.deepEqual(lunBody({ id: '3', backend: 'file', size: ' 16GiB ', path: 'lun3.img', blockSize: '' }),
                     { id: 3, backend: 'file', size: '16GiB', path: 'lun3.img' });
    assert.deepEqual(lunBody({ id: '', backend: 'memory', size: '1048576', path: '', blockSize: '4096' }),
                     { backend: 'memory', size: 1048576, block_size: 4096 });
});

test('a portal form becomes the body and path of the live-configuration contract', () => {
    assert.deepEqual(portalBody({ address: ' 127.0.0.1 ', port: '3262', group: null }), { address: '127.0.0.1', port: 3262 });
    assert.deepEqual(portalBody({ address: '0.0.0.0', port: '3261', group: '2' }), { address: '0.0.0.0', port: 3261, group: 2 });
    // Not digits: sent as typed, for the daemon to refuse naming portal.port.
    assert.deepEqual(portalBody({ address: '', port: '', group: '' }), { address: '', port: '' });
    assert.equal(portalPath('127.0.0.1:3260'), '/api/v1/portals/127.0.0.1:3260');
    assert.equal(portalPath('[::1]:3260'), '/api/v1/portals/%5B::1%5D:3260');
});
