// Unit tests of how the fault injection panel reads a rule (webui/static/js/faults.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeAction, describeScope, describeTrigger } from '../../../webui/static/js/faults.js';

const rule = (over) => ({
    id: 1, name: 'r', action: 'false_miscompare', enabled: true, target: '', lun: null, initiator: '',
    lba_first: 0, lba_last: 18446744073709551615, command: 'ats', probability: 1, every: 1, max_hits: 0,
    active_seconds: 0, stage: 'before_execute', delay_ms: 0, delay_p99_ms: 0, status: 'busy',
    sense_key: 11, asc: 0, ascq: 0, matched: 0, hits: 0, ...over,
});

test('a rule without scope or trigger reads as "any" and "always"', () => {
    assert.equal(describeScope(rule({})), 'any target · any LUN · any initiator · ATS');
    assert.equal(describeTrigger(rule({})), 'always');
    assert.equal(describeAction(rule({})), 'false miscompare');
});

test('scope and trigger name what narrows them', () => {
    const r = rule({ target: 'iqn.2026-11.org.atsarray:lab', lun: 0, lba_first: 1000, lba_last: 1000, initiator: '*esx-02*',
                     command: 'write', probability: 0.05, every: 3, max_hits: 10, active_seconds: 60 });
    assert.equal(describeScope(r), 'lab · LUN 0 · LBA 1000 · initiator *esx-02* · writes');
    assert.equal(describeTrigger(r), 'p 0.05 · every 3rd · at most 10 hits · for 60 s');
    assert.equal(describeScope(rule({ lba_first: 8 })), 'any target · any LUN · LBA 8…end · any initiator · ATS');
    assert.equal(describeScope(rule({ lba_first: 8, lba_last: 15, command: 'any' })), 'any target · any LUN · LBA 8…15 · any initiator · any command');
    assert.equal(describeTrigger(rule({ every: 2 })), 'always · every 2nd');
    assert.equal(describeTrigger(rule({ every: 11 })), 'always · every 11th');
});

test('actions read with their parameters', () => {
    assert.equal(describeAction(rule({ action: 'delay', delay_ms: 9000, delay_p99_ms: 12000, stage: 'before_status' })),
                 'delay 9000–12000 ms (p50–p99) before status');
    assert.equal(describeAction(rule({ action: 'delay', delay_ms: 300 })), 'delay 300 ms before execute');
    assert.equal(describeAction(rule({ action: 'status', status: 'task_set_full' })), 'TASK SET FULL');
    assert.equal(describeAction(rule({ action: 'status', status: 'check_condition', sense_key: 4, asc: 0x44, ascq: 0 })),
                 'CHECK CONDITION 04/44/00');
    assert.equal(describeAction(rule({ action: 'drop_connection' })), 'drop connection');
    assert.equal(describeAction(rule({ action: 'stale_read', command: 'read', stale_ms: 3000 })), 'stale read for 3000 ms after a write');
});

test('path faults read with their group and states', () => {
    const path = (over) => rule({ command: 'any', group: 1, state: 'standby', state_b: 'active_optimized', period_ms: 2000, transition_ms: 0, ...over });
    assert.equal(describeScope(path({ action: 'alua_state' })), 'any target · group 1 · any initiator');
    assert.equal(describeScope(path({ action: 'path_down', group: 0, initiator: '*esx-01*' })), 'any target · every group · initiator *esx-01*');
    assert.equal(describeScope(path({ action: 'stale_write_after_failover', command: 'write' })), 'any target · group 1 · any LUN · any initiator · writes');
    assert.equal(describeAction(path({ action: 'alua_state', transition_ms: 5000 })), 'ALUA standby after 5000 ms transitioning');
    assert.equal(describeAction(path({ action: 'alua_state', state: 'unavailable' })), 'ALUA unavailable');
    assert.equal(describeAction(path({ action: 'alua_flap', period_ms: 500 })), 'ALUA flap standby ⇄ active/optimized every 500 ms');
    assert.equal(describeAction(path({ action: 'path_blackhole' })), 'path blackhole');
    assert.equal(describeAction(path({ action: 'stale_write_after_failover', delay_ms: 3000 })), 'stale write: lands 3000 ms late');
});
