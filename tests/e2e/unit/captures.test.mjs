// Unit tests of how the Captures section reads a capture and its form (webui/static/js/captures.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureSpec, captureState, dataKept, traceFileName, traceUrl } from '../../../webui/static/js/captures.js';

const capture = (over) => ({
    id: 'c1', target: 'iqn.2026-11.org.atsarray:lab', lun: null, initiator: '', max_commands: 100000, max_mib: 64,
    max_seconds: 600, running: true, stop_reason: 'running', started: '2026-11-21T20:40:01.123Z', ended: null,
    commands: 0, data_bytes: 0, data_not_kept: 0, sessions: 0, ...over,
});

test('a capture\'s state says why it stopped', () => {
    assert.equal(captureState(capture({})), 'running');
    assert.equal(captureState(capture({ running: false, stop_reason: 'stopped' })), 'stopped (by request)');
    assert.equal(captureState(capture({ running: false, stop_reason: 'max_commands' })), 'stopped (max commands reached)');
    assert.equal(captureState(capture({ running: false, stop_reason: 'max_seconds' })), 'stopped (max seconds reached)');
    assert.equal(captureState(capture({ running: false, stop_reason: 'deleted' })), 'stopped (deleted)');
});

test('the data kept names the commands past max_mib', () => {
    assert.equal(dataKept(capture({ data_bytes: 1536 })), '1.50 KiB');
    assert.match(dataKept(capture({ data_bytes: 64 * 1048576, data_not_kept: 1200 })), /^64\.0+ MiB \(1,200 without data: past 64 MiB\)$/);
});

test('trace links and file names', () => {
    assert.equal(traceUrl('c1', 'json'), '/api/v1/captures/c1/trace?format=json');
    assert.equal(traceUrl('c 2', 'pcapng'), '/api/v1/captures/c%202/trace?format=pcapng');
    assert.equal(traceUrl('c1', 'other'), '/api/v1/captures/c1/trace?format=json');
    assert.equal(traceFileName(capture({}), 'json'), 'atsarray-c1-lab.trace.json');
    assert.equal(traceFileName(capture({ id: 'c/3', target: 'iqn.x:a b' }), 'pcapng'), 'atsarray-c_3-a_b.pcapng');
});

test('the form leaves empty fields out and sends numbers as typed', () => {
    assert.deepEqual(captureSpec({ target: ' iqn.x:lab ', lun: '', initiator: '', max_commands: '', max_mib: '', max_seconds: '' }),
                     { spec: { target: 'iqn.x:lab' }, errors: [] });
    // Out of range goes to the API (its message names the field); not a number stops here.
    assert.deepEqual(captureSpec({ target: 'iqn.x:lab', lun: '0', initiator: 'iqn.y:esx-01', max_commands: '10', max_mib: '5000', max_seconds: '1.5' }),
                     { spec: { target: 'iqn.x:lab', lun: 0, initiator: 'iqn.y:esx-01', max_commands: 10, max_mib: 5000, max_seconds: 1.5 }, errors: [] });
    assert.deepEqual(captureSpec({ target: 'iqn.x:lab', max_mib: 'lots' }).errors, ['max_mib: not a number']);
});
