// Decodes a COMPARE AND WRITE miscompare's expected ("test") and on-disk images into VMFS terms,
// when they look like a VMFS heartbeat slot or on-disk lock (shared/VMFS-ATS.md; all fields
// little-endian). Pure functions without DOM, so node's test runner checks them
// (tests/e2e/unit/vmfs.test.mjs) and the page renders what they return.

export const HB_FREE = 0xabcdef01;
export const HB_IN_USE = 0xabcdef02;
export const LOCK_TYPE_FIRST = 0x10c00001;
export const LOCK_TYPE_LAST = 0x10c00005;

// Field tables: [offset, size, name]. The first differing byte is named by the field holding it,
// as the sense INFORMATION field would name it (VMFS-ATS.md "Reading a miscompare").
export const HEARTBEAT_FIELDS = [
    [0x00, 4, 'state'],
    [0x04, 8, 'addr'],
    [0x0c, 8, 'gen'],
    [0x14, 8, 'stamp'],
    [0x1c, 16, 'owner'],
    [0x2c, 4, 'journal'],
    [0x30, 5, 'driver version'],
];
export const LOCK_FIELDS = [
    [0x00, 4, 'type'],
    [0x04, 8, 'addr'],
    [0x0c, 8, 'hb addr'],
    [0x14, 8, 'hb gen'],
    [0x1c, 8, 'token'],
    [0x24, 4, 'mode'],
    [0x28, 16, 'owner'],
    [0x38, 8, 'mtime'],
    [0x40, 4, 'holders'],
];
const LOCK_MODES = ['free', 'exclusive', 'read-only', 'multi-writer'];
const LOCK_TYPES = {
    0x10c00001: 'file descriptor',
    0x10c00002: 'bitmap cluster',
    0x10c00003: 'bitmap cluster',
    0x10c00004: 'bitmap cluster',
    0x10c00005: 'bitmap cluster',
};

// "0a1B..." (whitespace allowed) -> Uint8Array; odd trailing nibble and non-hex input are refused.
export function parseHex(text) {
    const clean = String(text ?? '').replace(/\s+/g, '');
    if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
        throw new Error('not a hex string');
    }
    const out = new Uint8Array(clean.length / 2);
    for (let i = 0; i < out.length; i++) {
        out[i] = parseInt(clean.substr(i * 2, 2), 16);
    }
    return out;
}

function u32(b, off) {
    if (b.length < off + 4) {
        return null;
    }
    return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

function u64(b, off) {
    if (b.length < off + 8) {
        return null;
    }
    let v = 0n;
    for (let i = 7; i >= 0; i--) {
        v = (v << 8n) | BigInt(b[off + i]);
    }
    return v;
}

function slice(b, off, len) {
    return b.length < off + len ? null : b.subarray(off, off + len);
}

const hex2 = (x) => x.toString(16).padStart(2, '0');

// A VMFS UUID as vmkernel.log prints it: 4-byte and 4-byte little-endian words, a 2-byte word,
// then the 6 bytes of the host's MAC address ("5f3c1a2b-7d8e9f00-1234-005056aabb01").
export function formatUuid(b) {
    if (!b || b.length < 16) {
        return null;
    }
    const w0 = u32(b, 0).toString(16).padStart(8, '0');
    const w1 = u32(b, 4).toString(16).padStart(8, '0');
    const w2 = (b[8] | (b[9] << 8)).toString(16).padStart(4, '0');
    const tail = Array.from(b.subarray(10, 16), hex2).join('');
    return `${w0}-${w1}-${w2}-${tail}`;
}

export function macOf(uuid) {
    if (!uuid || uuid.length < 16) {
        return null;
    }
    return Array.from(uuid.subarray(10, 16), hex2).join(':');
}

const isZero = (b) => b !== null && b.every((x) => x === 0);

// "host 5f3c1a2b-…:00:50:56:aa:bb:01", or "nobody" for a zeroed owner.
export function describeOwner(uuid) {
    if (!uuid) {
        return 'unknown';
    }
    if (isZero(uuid)) {
        return 'nobody';
    }
    return `host ${formatUuid(uuid).slice(0, 8)}…:${macOf(uuid)}`;
}

// µs of host uptime as "93784.567890 s" (the unit ESXi's stamp counts in).
export function formatStamp(us) {
    if (us === null || us === undefined) {
        return '?';
    }
    const s = us / 1000000n;
    const frac = (us % 1000000n).toString().padStart(6, '0');
    return `${s}.${frac} s`;
}

const hexAddr = (v) => (v === null ? '?' : '0x' + v.toString(16));

export function recordKind(b) {
    const tag = u32(b, 0);
    if (tag === HB_FREE || tag === HB_IN_USE) {
        return 'heartbeat';
    }
    if (tag !== null && tag >= LOCK_TYPE_FIRST && tag <= LOCK_TYPE_LAST) {
        return 'lock';
    }
    return null;
}

export function decodeHeartbeat(b) {
    const state = u32(b, 0);
    const owner = slice(b, 0x1c, 16);
    return {
        kind: 'heartbeat',
        state,
        state_name: state === HB_IN_USE ? 'in use' : state === HB_FREE ? 'free' : '?',
        addr: u64(b, 0x04),
        gen: u64(b, 0x0c),
        stamp: u64(b, 0x14),
        owner,
        owner_uuid: formatUuid(owner),
        owner_mac: macOf(owner),
        journal: u32(b, 0x2c),
    };
}

export function decodeLock(b) {
    const type = u32(b, 0);
    const mode = u32(b, 0x24);
    const owner = slice(b, 0x28, 16);
    return {
        kind: 'lock',
        type,
        type_name: LOCK_TYPES[type] ?? '?',
        addr: u64(b, 0x04),
        hb_addr: u64(b, 0x0c),
        hb_gen: u64(b, 0x14),
        token: u64(b, 0x1c),
        mode,
        mode_name: mode === null ? '?' : (LOCK_MODES[mode] ?? `mode ${mode}`),
        owner,
        owner_uuid: formatUuid(owner),
        owner_mac: macOf(owner),
        mtime: u64(b, 0x38),
        holders: u32(b, 0x40),
    };
}

export function decodeRecord(b) {
    const kind = recordKind(b);
    if (kind === 'heartbeat') {
        return decodeHeartbeat(b);
    }
    if (kind === 'lock') {
        return decodeLock(b);
    }
    return null;
}

// Offset of the first byte where the images differ over their common length, or -1 (equal
// images; a length difference alone is not a miscompare).
export function firstDiff(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
        if (a[i] !== b[i]) {
            return i;
        }
    }
    return -1;
}

export function fieldsOf(kind) {
    if (kind === 'heartbeat') {
        return HEARTBEAT_FIELDS;
    }
    if (kind === 'lock') {
        return LOCK_FIELDS;
    }
    return [];
}

// The field of `kind` that holds byte `offset` ({name, offset, size}), or null.
export function fieldAt(kind, offset) {
    for (const [off, size, name] of fieldsOf(kind)) {
        if (offset >= off && offset < off + size) {
            return { name, offset: off, size };
        }
    }
    if (kind === 'lock' && offset >= 0x44) {
        return { name: 'holder list', offset: 0x44, size: null };
    }
    return null;
}

// Names of the fields whose bytes differ, in layout order.
export function differingFields(kind, a, b) {
    const out = [];
    for (const [off, size, name] of fieldsOf(kind)) {
        const x = slice(a, off, size);
        const y = slice(b, off, size);
        if (x === null || y === null) {
            continue;
        }
        if (x.some((v, i) => v !== y[i])) {
            out.push(name);
        }
    }
    return out;
}

function describeHeartbeat(h) {
    if (h.state === HB_FREE) {
        return `free heartbeat slot ${hexAddr(h.addr)} gen ${h.gen}`;
    }
    return `heartbeat of ${describeOwner(h.owner)} gen ${h.gen} stamp ${formatStamp(h.stamp)}`;
}

function describeLock(l) {
    if (l.mode === 0) {
        return `free ${l.type_name} lock ${hexAddr(l.addr)} token ${l.token}`;
    }
    return `${l.type_name} lock ${hexAddr(l.addr)} held ${l.mode_name} by ${describeOwner(l.owner)} token ${l.token}`;
}

// What changed, in the words of the on-disk record: only the fields that differ.
function describeHeartbeatChange(e, a, changed) {
    const parts = [];
    if (changed.includes('state')) {
        parts.push(a.state_name === '?' ? `state 0x${a.state.toString(16)}` : a.state_name);
    }
    if (changed.includes('gen')) {
        parts.push(`gen ${a.gen}`);
    }
    if (changed.includes('owner')) {
        parts.push(`owner ${describeOwner(a.owner)}`);
    }
    if (changed.includes('stamp')) {
        parts.push(`stamp ${formatStamp(a.stamp)}`);
    }
    if (changed.includes('addr')) {
        parts.push(`addr ${hexAddr(a.addr)}`);
    }
    for (const f of ['journal', 'driver version']) {
        if (changed.includes(f)) {
            parts.push(`${f} changed`);
        }
    }
    return parts.join(', ');
}

function describeLockChange(e, a, changed) {
    const parts = [];
    if (changed.includes('mode')) {
        parts.push(a.mode_name);
    }
    if (changed.includes('owner')) {
        parts.push(`owner ${describeOwner(a.owner)}`);
    }
    if (changed.includes('token')) {
        parts.push(`token ${a.token}`);
    }
    if (changed.includes('hb addr') || changed.includes('hb gen')) {
        parts.push(`owner's heartbeat ${hexAddr(a.hb_addr)} gen ${a.hb_gen}`);
    }
    if (changed.includes('type')) {
        parts.push(`type 0x${a.type.toString(16)}`);
    }
    for (const f of ['addr', 'mtime', 'holders']) {
        if (changed.includes(f)) {
            parts.push(`${f} changed`);
        }
    }
    return parts.join(', ');
}

// The verdict an engineer would otherwise reconstruct from vmkernel.log (VMFS-ATS.md "Reading a
// miscompare"). `ownerOfInitiator` is the host UUID (formatted) known to belong to the initiator
// that got the miscompare, if the page has learned it (the owner in that initiator's own
// heartbeat images), so that a lock it took itself is recognised.
function verdictHeartbeat(e, a, changed, ownerOfInitiator) {
    if (changed.length === 1 && changed[0] === 'stamp') {
        if (a.stamp > e.stamp) {
            return {
                late_retry: true,
                text: 'only the stamp moved forward: this host\'s own later refresh is on disk — a late retry (aborted or timed-out ATS that landed), a false miscompare (KB 2113956)',
            };
        }
        return { late_retry: false, text: 'only the stamp differs, and it went back: an older write of this slot landed late' };
    }
    if (changed.includes('state') && a.state === HB_FREE) {
        return { late_retry: false, text: 'another host cleared this slot (gen +1): this host lost its heartbeat and must restart heartbeating' };
    }
    if (changed.includes('owner')) {
        return { late_retry: false, text: `another host took this slot: ${describeOwner(a.owner)}` };
    }
    if (changed.includes('gen')) {
        if (ownerOfInitiator && a.owner_uuid === ownerOfInitiator) {
            return { late_retry: true, text: 'the slot holds this host\'s own newer generation: its earlier ATS landed late (a late retry)' };
        }
        return { late_retry: false, text: 'the generation changed: the slot was cleared and re-acquired since this host last wrote it' };
    }
    return { late_retry: false, text: `the ${changed.join(', ') || 'record'} differs` };
}

function verdictLock(e, a, changed, ownerOfInitiator) {
    if (a.mode !== 0 && ownerOfInitiator && a.owner_uuid === ownerOfInitiator) {
        return {
            late_retry: true,
            text: 'the lock is held by this initiator\'s own host: its earlier acquire landed late — a late retry, a false miscompare',
        };
    }
    if (e.mode === 0 && a.mode !== 0) {
        return { late_retry: false, text: `lost the race: ${describeOwner(a.owner)} acquired the lock first (token ${a.token})` };
    }
    if (e.mode !== 0 && a.mode === 0) {
        return { late_retry: false, text: 'the lock was released (or broken) since it was read' };
    }
    if (changed.includes('owner')) {
        return { late_retry: false, text: `the lock changed hands: now ${describeOwner(a.owner)}` };
    }
    if (changed.includes('token')) {
        return { late_retry: false, text: 'the same owner re-acquired the lock in between (token moved)' };
    }
    return { late_retry: false, text: `the ${changed.join(', ') || 'record'} differs` };
}

// The whole explanation of one miscompare. `expected` and `actual` are Uint8Arrays or hex strings.
// Returns {kind, first_diff, field, expected, actual, changed, summary, verdict, late_retry}.
// kind is null when neither image looks like a VMFS record; summary then just names the offset.
export function explainMiscompare(expected, actual, options = {}) {
    const e = typeof expected === 'string' ? parseHex(expected) : expected;
    const a = typeof actual === 'string' ? parseHex(actual) : actual;
    const diff = firstDiff(e, a);
    const kind = recordKind(e) ?? recordKind(a);
    const out = {
        kind,
        first_diff: diff,
        field: null,
        expected: null,
        actual: null,
        changed: [],
        summary: '',
        verdict: '',
        late_retry: false,
    };
    if (kind === null) {
        out.summary = diff < 0 ? 'the images are equal' : `first difference at byte 0x${diff.toString(16)}`;
        // A counter block (tools/ats-counter): a little-endian 64-bit value at offset 0, zeros after.
        if (diff >= 0 && diff < 8 && e.length >= 8 && a.length >= 8) {
            const ev = u64(e, 0);
            const av = u64(a, 0);
            const rest = (b) => isZero(b.subarray(8, Math.min(b.length, 64)));
            if (ev < 1n << 48n && av < 1n << 48n && rest(e) && rest(a)) {
                out.summary += `; as a 64-bit counter: expected ${ev}, on disk ${av}`;
                out.verdict = av > ev ? `another writer incremented it ${av - ev} time(s) in between` : 'the counter went back';
            }
        }
        return out;
    }
    const decode = kind === 'heartbeat' ? decodeHeartbeat : decodeLock;
    out.expected = decode(e);
    out.actual = decode(a);
    out.field = diff < 0 ? null : fieldAt(kind, diff);
    out.changed = differingFields(kind, e, a);
    const fieldText = diff < 0 ? 'images equal' : `first differing field: ${out.field ? out.field.name : 'byte'} (0x${diff.toString(16).padStart(2, '0')})`;
    const ownerOfInitiator = options.ownerOfInitiator ?? null;
    if (kind === 'heartbeat') {
        const expText = out.expected.state === HB_FREE || out.expected.state === HB_IN_USE ? describeHeartbeat(out.expected) : 'not a heartbeat';
        const change = recordKind(a) === 'heartbeat' ? describeHeartbeatChange(out.expected, out.actual, out.changed) : 'not a heartbeat record';
        out.summary = `expected: ${expText}; on disk: ${change || 'same'} — ${fieldText}`;
        Object.assign(out, recordKind(a) === 'heartbeat' ? pick(verdictHeartbeat(out.expected, out.actual, out.changed, ownerOfInitiator)) : { verdict: 'the block no longer holds a heartbeat slot' });
    } else {
        const expText = recordKind(e) === 'lock' ? describeLock(out.expected) : 'not a lock';
        const change = recordKind(a) === 'lock' ? describeLockChange(out.expected, out.actual, out.changed) : 'not a lock record';
        out.summary = `expected: ${expText}; on disk: ${change || 'same'} — ${fieldText}`;
        Object.assign(out, recordKind(a) === 'lock' ? pick(verdictLock(out.expected, out.actual, out.changed, ownerOfInitiator)) : { verdict: 'the block no longer holds an on-disk lock' });
    }
    return out;
}

function pick(v) {
    return { verdict: v.text, late_retry: v.late_retry };
}
