// Unit tests of the Ceph panel's figures and health badge (webui/static/js/rbd.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmtAge, fmtMs, healthBadge } from '../../../webui/static/js/rbd.js';

test('latencies and ages read as an engineer expects', () => {
    assert.equal(fmtMs(0.2929), '0.29 ms');
    assert.equal(fmtMs(0), '0.00 ms');  // memstore's osd perf
    assert.equal(fmtMs(18.134), '18.1 ms');
    assert.equal(fmtMs(2500), '2.50 s');
    assert.equal(fmtMs(null), '—');  // no op since the previous refresh
    assert.equal(fmtAge(295), '295 ms ago');
    assert.equal(fmtAge(7818), '7.8 s ago');
    assert.equal(fmtAge(null), 'never');
});

test('the badge follows the cluster\'s health, and a cluster that does not answer is unreachable', () => {
    assert.deepEqual(healthBadge({ state: 'ok', health: 'HEALTH_OK' }), { cls: 'health-ok', text: 'HEALTH_OK' });
    assert.deepEqual(healthBadge({ state: 'ok', health: 'HEALTH_WARN' }), { cls: 'health-warn', text: 'HEALTH_WARN' });
    assert.deepEqual(healthBadge({ state: 'ok', health: 'HEALTH_ERR' }), { cls: 'health-err', text: 'HEALTH_ERR' });
    assert.deepEqual(healthBadge({ state: 'unreachable', health: null, error: 'unreachable: x' }),
        { cls: 'health-unreachable', text: 'unreachable' });
    assert.deepEqual(healthBadge(undefined), { cls: 'health-unreachable', text: 'unreachable' });
    assert.deepEqual(healthBadge({ state: 'pending' }), { cls: 'health-pending', text: 'asking…' });
});
