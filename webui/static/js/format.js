// Number, time and byte formatting for the console, and the hex-dump model of a miscompare's
// images. Pure functions without DOM (tests/e2e/unit/format.test.mjs).
import { fieldAt } from './vmfs.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function fmtBytes(n) {
    if (n === null || n === undefined || Number.isNaN(n)) {
        return '—';
    }
    let v = Number(n);
    let u = 0;
    while (Math.abs(v) >= 1024 && u < UNITS.length - 1) {
        v /= 1024;
        u++;
    }
    return u === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${UNITS[u]}`;
}

// Latency in µs as esxtop-minded engineers read it: µs below a millisecond, ms above.
export function fmtUs(us) {
    if (us === null || us === undefined || Number.isNaN(us)) {
        return '—';
    }
    const v = Number(us);
    if (v < 1000) {
        return `${Math.round(v)} µs`;
    }
    if (v < 1000000) {
        return `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} ms`;
    }
    return `${(v / 1000000).toFixed(2)} s`;
}

export function fmtCount(n) {
    if (n === null || n === undefined || Number.isNaN(n)) {
        return '—';
    }
    return Number(n).toLocaleString('en-US');
}

export function fmtRate(n) {
    if (n === null || n === undefined || Number.isNaN(n)) {
        return '—';
    }
    return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

export function fmtRatio(part, whole) {
    if (!whole) {
        return '—';
    }
    const r = (100 * part) / whole;
    return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)} %`;
}

export function fmtDuration(s) {
    if (s === null || s === undefined) {
        return '—';
    }
    s = Math.floor(s);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    const hms = `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
    return d > 0 ? `${d}d ${hms}` : hms;
}

// RFC 3339 UTC -> "20:40:01.123" (UTC, as the daemon's log prints), or the date too when asked.
export function fmtTime(rfc3339, withDate = false) {
    if (!rfc3339) {
        return '—';
    }
    const d = new Date(rfc3339);
    if (Number.isNaN(d.getTime())) {
        return String(rfc3339);
    }
    const iso = d.toISOString();
    return withDate ? `${iso.slice(0, 10)} ${iso.slice(11, 23)}` : iso.slice(11, 23);
}

// Rows of 16 bytes of both images over [0, length), every byte tagged with whether it differs
// and which VMFS field (when `kind` names a record) holds it.
export function hexDumpModel(expected, actual, kind, length) {
    const n = Math.min(length, Math.max(expected.length, actual.length));
    const rows = [];
    for (let off = 0; off < n; off += 16) {
        const row = { offset: off, expected: [], actual: [] };
        for (let i = off; i < Math.min(off + 16, n); i++) {
            const e = i < expected.length ? expected[i] : null;
            const a = i < actual.length ? actual[i] : null;
            const field = kind ? fieldAt(kind, i) : null;
            const diff = e !== a;
            row.expected.push({ value: e, diff, field: field ? field.name : null });
            row.actual.push({ value: a, diff, field: field ? field.name : null });
        }
        rows.push(row);
    }
    return rows;
}

// How many bytes of a miscompare to show first: enough to cover the VMFS record's fields and the
// first difference, in whole rows, at least 64 bytes.
export function dumpLength(firstDiff, kind, total) {
    const record = kind === 'lock' ? 0x50 : kind === 'heartbeat' ? 0x40 : 0;
    const need = Math.max(64, record, firstDiff >= 0 ? firstDiff + 1 : 0);
    return Math.min(total, Math.ceil(need / 16) * 16);
}
