// Unit tests of the console's VMFS miscompare decoder (webui/static/js/vmfs.js), with images
// built field by field from the layouts in shared/VMFS-ATS.md. Run: node --test tests/e2e/unit
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as vmfs from '../../../webui/static/js/vmfs.js';

const OWNER_A = Uint8Array.from([0x2b, 0x1a, 0x3c, 0x5f, 0x00, 0x9f, 0x8e, 0x7d, 0x34, 0x12,
                                 0x00, 0x50, 0x56, 0xaa, 0xbb, 0x01]);
const OWNER_B = Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
                                 0x00, 0x50, 0x56, 0xaa, 0xbb, 0x02]);

function put32(b, off, v) { new DataView(b.buffer).setUint32(off, v, true); }
function put64(b, off, v) { new DataView(b.buffer).setBigUint64(off, BigInt(v), true); }

function heartbeat({ state = vmfs.HB_IN_USE, addr = 0x300000, gen = 41, stamp = 93784567890, owner = OWNER_A } = {}) {
    const b = new Uint8Array(512);
    put32(b, 0x00, state);
    put64(b, 0x04, addr);
    put64(b, 0x0c, gen);
    put64(b, 0x14, stamp);
    b.set(owner, 0x1c);
    put32(b, 0x2c, 7);
    return b;
}

function lock({ type = 0x10c00001, token = 9, mode = 0, owner = new Uint8Array(16), hbAddr = 0, hbGen = 0 } = {}) {
    const b = new Uint8Array(512);
    put32(b, 0x00, type);
    put64(b, 0x04, 0x1400000);
    put64(b, 0x0c, hbAddr);
    put64(b, 0x14, hbGen);
    put64(b, 0x1c, token);
    put32(b, 0x24, mode);
    b.set(owner, 0x28);
    return b;
}

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

test('parseHex reads what the API sends and refuses garbage', () => {
    assert.deepEqual(Array.from(vmfs.parseHex('00ff10Ab')), [0, 255, 16, 171]);
    assert.deepEqual(Array.from(vmfs.parseHex('')), []);
    assert.throws(() => vmfs.parseHex('abc'));
    assert.throws(() => vmfs.parseHex('zz'));
});

test('a VMFS UUID prints as vmkernel.log does and ends in the MAC', () => {
    assert.equal(vmfs.formatUuid(OWNER_A), '5f3c1a2b-7d8e9f00-1234-005056aabb01');
    assert.equal(vmfs.macOf(OWNER_A), '00:50:56:aa:bb:01');
    assert.equal(vmfs.describeOwner(new Uint8Array(16)), 'nobody');
});

test('records are recognised by the tag at offset 0', () => {
    assert.equal(vmfs.recordKind(heartbeat()), 'heartbeat');
    assert.equal(vmfs.recordKind(heartbeat({ state: vmfs.HB_FREE })), 'heartbeat');
    assert.equal(vmfs.recordKind(lock()), 'lock');
    assert.equal(vmfs.recordKind(lock({ type: 0x10c00005 })), 'lock');
    assert.equal(vmfs.recordKind(lock({ type: 0x10c00006 })), null);
    assert.equal(vmfs.recordKind(new Uint8Array(512)), null);
    assert.equal(vmfs.recordKind(new Uint8Array(2)), null);
});

test('heartbeat fields decode little-endian', () => {
    const h = vmfs.decodeHeartbeat(heartbeat());
    assert.equal(h.state_name, 'in use');
    assert.equal(h.addr, 0x300000n);
    assert.equal(h.gen, 41n);
    assert.equal(h.stamp, 93784567890n);
    assert.equal(h.owner_mac, '00:50:56:aa:bb:01');
    assert.equal(h.journal, 7);
    assert.equal(vmfs.formatStamp(h.stamp), '93784.567890 s');
});

test('the first differing byte names the field that holds it', () => {
    const cases = [
        ['heartbeat', 0x00, 'state'], ['heartbeat', 0x0c, 'gen'], ['heartbeat', 0x13, 'gen'],
        ['heartbeat', 0x14, 'stamp'], ['heartbeat', 0x1b, 'stamp'], ['heartbeat', 0x1c, 'owner'],
        ['heartbeat', 0x2b, 'owner'], ['lock', 0x1c, 'token'], ['lock', 0x24, 'mode'],
        ['lock', 0x28, 'owner'], ['lock', 0x37, 'owner'], ['lock', 0x50, 'holder list'],
    ];
    for (const [kind, off, name] of cases) {
        assert.equal(vmfs.fieldAt(kind, off).name, name, `${kind} 0x${off.toString(16)}`);
    }
    assert.equal(vmfs.fieldAt('heartbeat', 0x100), null);
});

test('heartbeat gen moved by another host: named at 0x0c with the new owner', () => {
    const e = heartbeat({ gen: 41 });
    const a = heartbeat({ gen: 42, owner: OWNER_B, stamp: 100 });
    const x = vmfs.explainMiscompare(hex(e), hex(a));
    assert.equal(x.kind, 'heartbeat');
    assert.equal(x.first_diff, 0x0c);
    assert.equal(x.field.name, 'gen');
    assert.deepEqual(x.changed, ['gen', 'stamp', 'owner']);
    assert.equal(x.late_retry, false);
    assert.match(x.summary, /^expected: heartbeat of host 5f3c1a2b…:00:50:56:aa:bb:01 gen 41 stamp 93784\.567890 s; on disk: gen 42, owner host 44332211…:00:50:56:aa:bb:02/);
    assert.match(x.summary, /first differing field: gen \(0x0c\)/);
    assert.match(x.verdict, /another host took this slot/);
});

test('only a newer stamp on disk is a late retry (KB 2113956)', () => {
    const x = vmfs.explainMiscompare(heartbeat({ stamp: 1000 }), heartbeat({ stamp: 4000000 }));
    assert.equal(x.first_diff, 0x14);
    assert.equal(x.field.name, 'stamp');
    assert.deepEqual(x.changed, ['stamp']);
    assert.equal(x.late_retry, true);
    assert.match(x.verdict, /late retry/);
    const back = vmfs.explainMiscompare(heartbeat({ stamp: 4000000 }), heartbeat({ stamp: 1000 }));
    assert.equal(back.late_retry, false);
});

test('a slot cleared by another host reads as lost heartbeat', () => {
    const x = vmfs.explainMiscompare(heartbeat({ gen: 41 }),
                                     heartbeat({ state: vmfs.HB_FREE, gen: 42, owner: new Uint8Array(16), stamp: 0 }));
    assert.equal(x.field.name, 'state');
    assert.equal(x.first_diff, 0);
    assert.match(x.summary, /on disk: free, gen 42, owner nobody/);
    assert.match(x.verdict, /cleared this slot/);
});

test('lock race: expected free, on disk exclusive by another host', () => {
    const e = lock({ token: 9 });
    const a = lock({ token: 10, mode: 1, owner: OWNER_B, hbAddr: 0x300200, hbGen: 5 });
    const x = vmfs.explainMiscompare(e, a);
    assert.equal(x.kind, 'lock');
    assert.equal(x.first_diff, 0x0d); // 0x300200 little-endian starts with a 0x00 byte
    assert.equal(x.field.name, 'hb addr');
    assert.deepEqual(x.changed, ['hb addr', 'hb gen', 'token', 'mode', 'owner']);
    assert.match(x.summary, /^expected: free file descriptor lock 0x1400000 token 9; on disk: exclusive, owner host 44332211…:00:50:56:aa:bb:02, token 10/);
    assert.match(x.verdict, /acquired the lock first/);
    assert.equal(x.late_retry, false);
    // The same race where only token/mode/owner moved names the token at 0x1c.
    const y = vmfs.explainMiscompare(lock({ token: 9 }), lock({ token: 10, mode: 1, owner: OWNER_B }));
    assert.equal(y.field.name, 'token');
    assert.equal(y.first_diff, 0x1c);
    const m = vmfs.explainMiscompare(lock({ mode: 1, owner: OWNER_A }), lock({ mode: 3, owner: OWNER_A }));
    assert.equal(m.field.name, 'mode');
    assert.equal(m.first_diff, 0x24);
    const o = vmfs.explainMiscompare(lock({ mode: 1, owner: OWNER_A }), lock({ mode: 1, owner: OWNER_B }));
    assert.equal(o.field.name, 'owner');
    assert.equal(o.first_diff, 0x28);
});

test('a lock held by the initiator\'s own host is its late acquire', () => {
    const x = vmfs.explainMiscompare(lock({ token: 9 }), lock({ token: 10, mode: 1, owner: OWNER_A }),
                                     { ownerOfInitiator: vmfs.formatUuid(OWNER_A) });
    assert.equal(x.late_retry, true);
});

test('non-VMFS blocks: the offset, and an ats-counter value when it looks like one', () => {
    const e = new Uint8Array(512);
    const a = new Uint8Array(512);
    put64(e, 0, 41);
    put64(a, 0, 43);
    const x = vmfs.explainMiscompare(e, a);
    assert.equal(x.kind, null);
    assert.equal(x.first_diff, 0);
    assert.match(x.summary, /first difference at byte 0x0; as a 64-bit counter: expected 41, on disk 43/);
    assert.match(x.verdict, /incremented it 2 time/);
    const r = new Uint8Array(512).fill(0xee);
    const s = r.slice();
    s[300] = 0;
    assert.equal(vmfs.explainMiscompare(r, s).summary, 'first difference at byte 0x12c');
    assert.equal(vmfs.explainMiscompare(r, r).first_diff, -1);
});

test('truncated images decode without throwing', () => {
    const e = heartbeat().subarray(0, 0x10);
    const a = heartbeat({ gen: 42 }).subarray(0, 0x10);
    const x = vmfs.explainMiscompare(e, a);
    assert.equal(x.kind, 'heartbeat');
    assert.equal(x.field.name, 'gen');
    assert.equal(x.expected.stamp, null);
});
