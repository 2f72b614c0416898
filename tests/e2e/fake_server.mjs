// A stand-in for the daemon's console server, for developing and testing the page without the
// daemon: serves webui/static at / and answers webui/API.md with made-up but consistent data,
// including a WebSocket stream of ticks (a minimal RFC 6455 server: text frames out, close and
// ping in). Contention starts when the test asks for it (POST /__fake/workload), the way the
// real test starts tools/ats-counter; POST /__fake/drop closes the streams (reconnect test).
// An rbd LUN (target ...:ceph) carries the `rbd` object of issue 15: a two-gateway array whose
// cluster and gateway B change on POST /__fake/ceph?health=HEALTH_WARN|HEALTH_OK|unreachable
// and ?gateway_b=dead|alive.
// The fault rules (/api/v1/faults) live in lib/fake_faults.mjs; --faults off answers like a
// daemon whose config keeps injection off. The live configuration of issue 19 (targets, LUNs,
// ACLs, CHAP, portals, config save) lives in lib/fake_config.mjs. Sessions log in on a portal
// (127.0.0.1:3260 unless POST /__fake/login?name=IQN&target=T&portal=A:P says another); the array
// has no target port groups (one implicit group 1) until POST /__fake/port-groups?explicit=1
// declares two controllers as a [[target_port_group]] pair does (?explicit=0 takes them back).
// Issue 19's stream defects: every new stream first gets a first tick ("first": true, deltas
// null) as the daemon's first tick is, or after POST /__fake/drop?legacy_first=1 the tick an
// older daemon sent (the totals as deltas, interval_ms 0); POST /__fake/reconnect?name=IQN logs
// that initiator out and in again with a new ISID (a new initiator port), and ticks list an
// ended port for --keep-ended-s (keep_ended_sessions_s) only, as the daemon does.
// GET /api/v1/captures lists one stopped sample capture (issue 16) and nothing more: no trace,
// no starting or stopping one.
//
//   node tests/e2e/fake_server.mjs [--port 8091] [--static webui/static] [--interval-ms 1000]
//                                  [--faults on|off] [--keep-ended-s 60]
// Prints "listening http://127.0.0.1:PORT" once it listens.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeConfig } from './lib/fake_config.mjs';
import { FakeFaults } from './lib/fake_faults.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) {
        acc.push([a.slice(2), all[i + 1]]);
    }
    return acc;
}, []));
const PORT = Number(args.port ?? 8091);
const STATIC = path.resolve(args.static ?? path.join(here, '../../webui/static'));
const INTERVAL = Number(args['interval-ms'] ?? 1000);
const KEEP_ENDED_S = Number(args['keep-ended-s'] ?? 60);
const TOKEN = crypto.randomBytes(16).toString('hex');
const TARGET = 'iqn.2026-11.org.atsarray:lab';
const VMFS_TARGET = 'iqn.2026-11.org.atsarray:vmfs';
const CEPH_TARGET = 'iqn.2026-11.org.atsarray:ceph';
const started = new Date();

// ---------------------------------------------------------------------------------- the model
const lat = (mean, p50, p99, p999, max, count) => ({ count, mean_us: mean, p50_us: p50, p99_us: p99, p999_us: p999, max_us: max });
const zeroCounters = () => ({ successes: 0, miscompares: 0, injected_miscompares: 0, errors: 0, sum_suc_us: 0, sum_f_us: 0 });
const luns = [
    { target: TARGET, lun: 0, block_size: 512, block_count: 16777216, store: 'rocksdb', write_cache: true, read_only: false, allocated: 1536 * 1024, c: zeroCounters() },
    { target: VMFS_TARGET, lun: 0, block_size: 512, block_count: 4194304, store: 'file+delay', write_cache: false, read_only: false, allocated: 64 * 1048576, c: zeroCounters() },
    { target: CEPH_TARGET, lun: 0, block_size: 512, block_count: 2097152, store: 'rbd', write_cache: false, read_only: false, allocated: 8 * 4194304, c: zeroCounters() },
];

// The rbd LUN's cluster and gateways (webui/API.md, the `rbd` object of a LUN).
const ceph = { health: 'HEALTH_OK', gatewayBAlive: true, gatewayBSeen: Date.now(), refreshed: Date.now(), rounds: 0 };
setInterval(() => {
    if (ceph.health !== 'unreachable') {
        ceph.refreshed = Date.now();
    }
    if (ceph.gatewayBAlive) {
        ceph.gatewayBSeen = Date.now();
    }
    ceph.rounds++;
}, 500);
function rbdOut() {
    const reachable = ceph.health !== 'unreachable';
    const checks = ceph.health === 'HEALTH_WARN'
        ? [{ code: 'OSD_DOWN', severity: 'HEALTH_WARN', summary: '1 osds down' }]
        : [];
    const bAge = Date.now() - ceph.gatewayBSeen;
    return {
        pool: 'rbd', image: 'lab', image_id: '10b2c4d5e6f7', object_size: 4194304,
        cluster: {
            state: reachable ? 'ok' : 'unreachable',
            error: reachable ? null : 'unreachable: the monitors did not answer within 30 s',
            health: reachable ? ceph.health : null,
            checks: reachable ? checks : [],
            fsid: reachable ? '502c0236-f850-477f-80a4-3f21eb913adb' : null,
            osds: { total: 2, up: ceph.health === 'HEALTH_WARN' ? 1 : 2, in: 2 },
            manager: false, refreshed_ms_ago: Date.now() - ceph.refreshed, refresh_took_ms: 4, refresh_interval_ms: 2000,
        },
        osd_latency: {
            source: 'perf dump', error: null,
            osds: reachable ? [0, 1].map((id) => ({
                id, up: !(id === 1 && ceph.health === 'HEALTH_WARN'), in: true,
                commit_latency_ms: null, apply_latency_ms: null,
                write_latency_ms: 1.2 + Math.random(), read_latency_ms: 0.3 + Math.random() / 5,
                writes: 120 + id, reads: 40 + id,
            })) : [],
            heartbeat: {
                rounds: ceph.rounds, failed_rounds: reachable ? 0 : 3, samples: 60, failed_in_window: reachable ? 0 : 3,
                last_ms: 1.4, last_failed: !reachable, p50_ms: 1.1, p99_ms: 4.8, max_ms: 9.6, window_s: 60,
            },
        },
        gateways: [
            { group: 1, name: 'gateway-a', portals: ['127.0.0.1:3260'], state: 'active_optimized', shared_state: 'active_optimized',
              alive: true, last_beat_age_ms: 180, this_gateway: true, description: 'gateway-a pid 4242' },
            { group: 2, name: 'gateway-b', portals: ['127.0.0.1:3261'], state: ceph.gatewayBAlive ? 'active_non_optimized' : 'unavailable',
              shared_state: 'active_non_optimized', alive: ceph.gatewayBAlive && bAge < 5000, last_beat_age_ms: bAge,
              this_gateway: false, description: 'gateway-b pid 4343' },
        ],
    };
}
const initiators = [];   // logged in: {name, isid, address, tsih, target, login_time, c, ops}
const ended = [];        // logged out less than KEEP_ENDED_S ago: {...session, ended: ms}
const everyone = [];     // every session since the start (GET /ats and /latency keep them all)
const events = [];
let seq = 0;
let pendingEvents = [];
let tsih = 1;
let workload = false;

function addEvent(kind, message, target, lun, initiator) {
    const e = { seq: ++seq, time: new Date().toISOString(), kind, message, target, lun, initiator };
    events.push(e);
    if (events.length > 5000) {
        events.shift();
    }
    pendingEvents.push(e);
    return e;
}
const faults = new FakeFaults({ enabled: args.faults !== 'off', addEvent });

function login(name, isid, address, target, portal = '127.0.0.1:3260') {
    const s = {
        initiator_name: name, isid, address, tsih: tsih++, target, portal, login_time: new Date().toISOString(),
        c: zeroCounters(), ops: { read: newOp(), write: newOp(), ats: newOp(), other: newOp() }, tick: null,
    };
    initiators.push(s);
    everyone.push(s);
    addEvent('login', `login from ${address}, ISID ${isid}, TSIH ${s.tsih}`, target, null, name);
    return s;
}
function newOp() {
    return { commands: 0, errors: 0, buckets: new Map(), sum: 0, max: 0 };
}
const portOf = (s) => `${s.initiator_name},i,${s.isid}`;
function logout(s) {
    const i = initiators.indexOf(s);
    if (i >= 0) {
        initiators.splice(i, 1);
        s.ended = Date.now();
        ended.push(s);
        addEvent('logout', `logout from ${s.address}, ISID ${s.isid}, TSIH ${s.tsih}`, s.target, null, s.initiator_name);
    }
}
// The initiator logs out and in again with the next ISID: a new initiator port (RFC 7143 §10.12.5).
let nextIsid = 0x400000a00000;
function reconnect(name) {
    const s = initiators.find((x) => x.initiator_name === name);
    if (!s) {
        return null;
    }
    logout(s);
    const [host, port] = s.address.split(':');
    const again = login(name, `0x${(nextIsid++).toString(16).padStart(12, '0')}`, `${host}:${Number(port) + 1000}`, s.target, s.portal);
    Object.assign(again.c, s.c);  // the host goes on counting where it was
    return again;
}

// Two ESXi-like hosts on the VMFS target from the start: their heartbeat and lock images.
function put32(b, o, v) { b.writeUInt32LE(v >>> 0, o); }
function put64(b, o, v) { b.writeBigUInt64LE(BigInt(v), o); }
const HOST_A = Buffer.from('2b1a3c5f009f8e7d3412005056aabb01', 'hex');
const HOST_B = Buffer.from('11223344556677889900005056aabb02', 'hex');
function hb({ state = 0xabcdef02, addr = 0x300000, gen = 41, stamp = 93784567890, owner = HOST_A }) {
    const b = Buffer.alloc(512);
    put32(b, 0, state); put64(b, 4, addr); put64(b, 0x0c, gen); put64(b, 0x14, stamp);
    owner.copy(b, 0x1c); put32(b, 0x2c, 7); b[0x30] = 24; b[0x32] = 82;
    return b;
}
function lk({ token = 9, mode = 0, owner = Buffer.alloc(16), hbAddr = 0, hbGen = 0 }) {
    const b = Buffer.alloc(512);
    put32(b, 0, 0x10c00001); put64(b, 4, 0x1400000); put64(b, 0x0c, hbAddr); put64(b, 0x14, hbGen);
    put64(b, 0x1c, token); put32(b, 0x24, mode); owner.copy(b, 0x28); put64(b, 0x38, 1763757601);
    return b;
}
const esxA = login('iqn.1998-01.com.vmware:esx-01-5f3c1a2b', '0x00023d000001', '127.0.0.1:41001', VMFS_TARGET);
const esxB = login('iqn.1998-01.com.vmware:esx-02-44332211', '0x00023d000002', '127.0.0.1:41002', VMFS_TARGET);
const hot = new Map();  // key -> hot block
function miscompare(s, target, lun, lba, expected, actual) {
    const key = `${target}/${lun}/${lba}`;
    let b = hot.get(key);
    if (!b) {
        b = { target, lun, lba, miscompares: 0, successes: 0, initiators: [] };
        hot.set(key, b);
    }
    b.miscompares++;
    let off = 0;
    while (off < expected.length && expected[off] === actual[off]) {
        off++;
    }
    b.last_offset = off;
    b.last_expected = expected.toString('hex');
    b.last_actual = actual.toString('hex');
    b.last_initiator = s.initiator_name;
    if (!b.initiators.includes(s.initiator_name)) {
        b.initiators.push(s.initiator_name);
    }
    b.last_miscompare = new Date().toISOString();
    addEvent('miscompare', `ATS miscompare at LBA ${lba}, offset 0x${off.toString(16)}`, target, lun, s.initiator_name);
}
// esx-02 took esx-01's heartbeat slot over (gen 41 -> 42): a real conflict.
miscompare(esxA, VMFS_TARGET, 0, 0x8800, hb({}), hb({ gen: 42, owner: HOST_B, stamp: 1200000 }));
// esx-02's own refresh landed late: only the stamp moved (KB 2113956).
miscompare(esxB, VMFS_TARGET, 0, 0x8801, hb({ addr: 0x300200, owner: HOST_B, gen: 7, stamp: 5000000 }),
           hb({ addr: 0x300200, owner: HOST_B, gen: 7, stamp: 8000000 }));
// a file-descriptor lock race: esx-01 read it free, esx-02 got there first.
miscompare(esxA, VMFS_TARGET, 0, 0xa000, lk({}), lk({ token: 10, mode: 1, owner: HOST_B, hbAddr: 0x300200, hbGen: 7 }));
for (const l of luns) {
    l.c.miscompares = [...hot.values()].filter((b) => b.target === l.target && b.lun === l.lun).length;
}
esxA.c.miscompares = 2;
esxB.c.miscompares = 1;
// The hosts' heartbeats before the page opened: 196 ATS in all on the VMFS LUN (the LUN of
// issue 19 whose 5-minute chart opened at about 200,000 ATS/s).
luns[1].c.successes = 196;
esxA.c.successes = 98;
esxB.c.successes = 98;

// A capture of the VMFS target's hosts that stopped at its max_commands (webui/API.md "Captures").
const sampleCapture = {
    id: 'c1', target: VMFS_TARGET, lun: null, initiator: '', max_commands: 1000, max_mib: 64, max_seconds: 600,
    running: false, stop_reason: 'max_commands', started: new Date(started.getTime() - 120_000).toISOString(),
    ended: new Date(started.getTime() - 60_000).toISOString(), commands: 1000, data_bytes: 512000, data_not_kept: 0, sessions: 2,
};

let counter = 0n;
function startWorkload(sessions = 4, writers = 1) {
    if (workload) {
        return;
    }
    workload = true;
    for (let i = 0; i < sessions; i++) {
        login(`iqn.2026-11.org.atsarray:ats-counter-${i}`, `0x40000000${(i + 1).toString(16).padStart(4, '0')}`, `127.0.0.1:${42000 + i}`, TARGET);
    }
    for (let i = 0; i < writers; i++) {
        login(`iqn.2026-11.org.atsarray:ats-counter-writer-${i}`, `0x4000000100${(i + 1).toString(16).padStart(2, '0')}`, `127.0.0.1:${42100 + i}`, TARGET);
    }
}

// A latency sample from a log-normal-ish spread around `median` µs.
function sample(median) {
    const z = (Math.random() + Math.random() + Math.random() - 1.5) * 1.6;
    return Math.max(5, Math.round(median * Math.exp(z) * (Math.random() < 0.01 ? 8 : 1)));
}
function record(op, us, error = false) {
    op.commands++;
    op.errors += error ? 1 : 0;
    op.sum += us;
    op.max = Math.max(op.max, us);
    let ub = 1;
    while (ub < us) {
        ub *= 2;
    }
    op.buckets.set(ub, (op.buckets.get(ub) ?? 0) + 1);
}
function pct(samples, p) {
    if (!samples.length) {
        return 0;
    }
    const s = [...samples].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
function opSummary(op) {
    const samples = [];
    for (const [ub, n] of op.buckets) {
        for (let i = 0; i < Math.min(n, 200); i++) {
            samples.push(ub);
        }
    }
    return lat(op.commands ? op.sum / op.commands : 0, pct(samples, 50), pct(samples, 99), pct(samples, 99.9), op.max, op.commands);
}

// One tick of made-up work; returns the tick message.
function step() {
    const lunTick = new Map(luns.map((l) => [l, { ds: 0, dm: 0, de: 0, suc: [], f: [] }]));
    const iniTick = [];
    for (const s of initiators) {
        const t = { d_ats_successes: 0, d_ats_miscompares: 0, ops: {} };
        const lun = luns.find((l) => l.target === s.target);
        const lt = lunTick.get(lun) ?? { ds: 0, dm: 0, de: 0, suc: [], f: [] };  // its LUN removed
        const perOp = { read: [], write: [], ats: [] };
        const isCounter = s.initiator_name.includes('ats-counter-') && !s.initiator_name.includes('writer');
        const isWriter = s.initiator_name.includes('writer');
        if (isCounter && workload) {
            const n = 30 + Math.floor(Math.random() * 30);
            for (let i = 0; i < n; i++) {
                perOp.read.push(sample(60));
                const us = sample(900);
                if (Math.random() < 0.28) {
                    t.d_ats_miscompares++;
                    lt.dm++;
                    lt.f.push(us);
                    s.c.miscompares++;
                    s.c.sum_f_us += us;
                    perOp.ats.push(us);
                    if (Math.random() < 0.08) {
                        const e = Buffer.alloc(512);
                        const a = Buffer.alloc(512);
                        put64(e, 0, counter);
                        put64(a, 0, counter + 1n + BigInt(Math.floor(Math.random() * 3)));
                        miscompare(s, s.target, 0, 1000, e, a);
                    } else {
                        const key = `${s.target}/0/1000`;
                        if (hot.has(key)) {
                            hot.get(key).miscompares++;
                        }
                    }
                } else {
                    t.d_ats_successes++;
                    lt.ds++;
                    lt.suc.push(us);
                    s.c.successes++;
                    s.c.sum_suc_us += us;
                    perOp.ats.push(us);
                    counter++;
                    const key = `${s.target}/0/1000`;
                    if (hot.has(key)) {
                        hot.get(key).successes++;
                    }
                }
            }
        } else if (isWriter && workload) {
            const n = 80 + Math.floor(Math.random() * 40);
            for (let i = 0; i < n; i++) {
                perOp.write.push(sample(350));
            }
        } else if (!isCounter && !isWriter) {
            // ESXi-like hosts: a heartbeat refresh every ~3 s and some reads.
            if (Math.random() < 0.35) {
                const us = sample(700);
                perOp.ats.push(us);
                t.d_ats_successes++;
                lt.ds++;
                lt.suc.push(us);
                s.c.successes++;
                s.c.sum_suc_us += us;
            }
            for (let i = 0; i < 5; i++) {
                perOp.read.push(sample(180));
            }
        }
        for (const op of ['read', 'write', 'ats']) {
            for (const us of perOp[op]) {
                record(s.ops[op], us);
            }
            t.ops[op] = { d_commands: perOp[op].length, p50_us: pct(perOp[op], 50), p99_us: pct(perOp[op], 99), p999_us: pct(perOp[op], 99.9) };
        }
        iniTick.push({ initiator_port: portOf(s), initiator_name: s.initiator_name, address: s.address, live: true, ...t });
    }
    // Ended ports stay listed (live: false) for KEEP_ENDED_S, then leave the ticks.
    for (let i = ended.length - 1; i >= 0; i--) {
        if (Date.now() - ended[i].ended >= KEEP_ENDED_S * 1000) {
            ended.splice(i, 1);
        }
    }
    const idle = { d_commands: 0, p50_us: 0, p99_us: 0, p999_us: 0 };
    for (const s of ended) {
        iniTick.push({ initiator_port: portOf(s), initiator_name: s.initiator_name, address: s.address, live: false,
                       d_ats_successes: 0, d_ats_miscompares: 0, ops: { read: idle, write: idle, ats: idle } });
    }
    iniTick.sort((a, b) => (a.initiator_port < b.initiator_port ? -1 : a.initiator_port > b.initiator_port ? 1 : 0));  // the daemon's std::map
    faults.tick(workload);
    const mean = (a) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : 0);
    const lunsOut = luns.map((l) => {
        const t = lunTick.get(l);
        l.c.successes += t.ds;
        l.c.miscompares += t.dm;
        l.c.sum_suc_us += t.suc.reduce((x, y) => x + y, 0);
        l.c.sum_f_us += t.f.reduce((x, y) => x + y, 0);
        if (l.lun === 0 && l.target === TARGET && t.ds) {
            l.allocated = Math.min(l.block_count * 512, l.allocated + 4096);
        }
        return {
            target: l.target, lun: l.lun, successes: l.c.successes, miscompares: l.c.miscompares,
            injected_miscompares: l.c.injected_miscompares, errors: l.c.errors,
            d_successes: t.ds, d_miscompares: t.dm, d_errors: t.de, aavg_suc_us: mean(t.suc), aavg_f_us: mean(t.f),
        };
    });
    const tick = {
        type: 'tick', time: new Date().toISOString(), first: false, interval_ms: INTERVAL, overview: overview(),
        luns: lunsOut, initiators: iniTick, sessions: sessionsOut(), paths: pathsOut(), events: pendingEvents,
    };
    pendingEvents = [];
    return tick;
}

// The first tick of a stream: the totals and no deltas (webui/API.md), or with `legacy` what a
// daemon sent before issue 19: the totals as the deltas, over an interval of 0 ms.
function firstTick(legacy) {
    const none = (total) => (legacy ? total : null);
    const tick = {
        type: 'tick', time: new Date().toISOString(), first: true, interval_ms: 0, overview: overview(),
        luns: luns.map((l) => ({
            target: l.target, lun: l.lun, successes: l.c.successes, miscompares: l.c.miscompares,
            injected_miscompares: l.c.injected_miscompares, errors: l.c.errors,
            d_successes: none(l.c.successes), d_miscompares: none(l.c.miscompares + l.c.injected_miscompares), d_errors: none(l.c.errors),
            aavg_suc_us: none(l.c.sum_suc_us / Math.max(1, l.c.successes)), aavg_f_us: none(l.c.sum_f_us / Math.max(1, l.c.miscompares)),
        })),
        initiators: initiators.map((s) => ({
            initiator_port: portOf(s), initiator_name: s.initiator_name, address: s.address, live: true,
            d_ats_successes: none(s.c.successes), d_ats_miscompares: none(s.c.miscompares),
            ops: Object.fromEntries(['read', 'write', 'ats'].map((op) => {
                const sum = opSummary(s.ops[op]);
                return [op, { d_commands: none(s.ops[op].commands), p50_us: none(sum.p50_us), p99_us: none(sum.p99_us), p999_us: none(sum.p999_us) }];
            })),
        })),
        sessions: sessionsOut(), paths: pathsOut(), events: [],
    };
    if (legacy) {
        delete tick.first;
    }
    return tick;
}

// ------------------------------------------------------------------------- API.md responses
function atsTotals() {
    const t = { successes: 0, miscompares: 0, injected_miscompares: 0, errors: 0 };
    for (const l of luns) {
        t.successes += l.c.successes;
        t.miscompares += l.c.miscompares;
        t.injected_miscompares += l.c.injected_miscompares;
        t.errors += l.c.errors;
    }
    return t;
}
function overview() {
    return {
        version: '0.1.0-fake', started: started.toISOString(), uptime_s: Math.floor((Date.now() - started) / 1000),
        targets: targets.length, luns: luns.length, sessions: initiators.length, ats: atsTotals(),
    };
}
function lunOut(l) {
    const out = {
        id: l.lun, block_size: l.block_size, block_count: l.block_count, size_bytes: l.block_size * l.block_count,
        store: l.store, allocated_bytes: l.allocated, write_cache: l.write_cache, read_only: l.read_only,
    };
    if (l.store === 'rbd') {
        out.rbd = rbdOut();
    }
    return out;
}
// The targets as the live configuration keeps them (lib/fake_config.mjs changes them).
const target = (name, alias) => ({ name, alias, portal_group_tag: 1, allowed_initiators: [], chap: null, mutual_chap: null, require_mutual: false });
const targets = [target(TARGET, 'atsarray-lab'), target(VMFS_TARGET, 'vmfs-datastores'), target(CEPH_TARGET, 'ceph-gateways')];
const portals = [{ address: '127.0.0.1:3260' }];
// The array's target port groups: null while none is declared (API.md: one implicit group 1
// holding every portal; GET /portals then gives no "group"), else [{id, name}].
const portGroups = { declared: null };
function declarePortGroups(explicit) {
    portGroups.declared = explicit ? [{ id: 1, name: 'controller-a' }, { id: 2, name: 'controller-b' }] : null;
    for (const p of portals) {
        if (explicit) {
            p.group = p.group ?? 1;
        } else {
            delete p.group;
        }
    }
}
const targetOut = (t) => ({ name: t.name, alias: t.alias, portal_group_tag: t.portal_group_tag, luns: luns.filter((l) => l.target === t.name).map(lunOut) });
function targetsOut() {
    return targets.map(targetOut);
}
const config = new FakeConfig({
    targets, luns, portals, logout, lunOut, targetOut, addEvent,
    sessionsOf: (name) => initiators.filter((s) => s.target === name),
    sessionsOn: (address) => initiators.filter((s) => s.portal === address),
    portGroups: () => portGroups.declared,
    newLun: (name, spec) => ({
        target: name, lun: spec.id, block_size: spec.block_size, block_count: spec.size_bytes / spec.block_size, store: spec.backend,
        backend: spec.backend, path: spec.path, write_cache: spec.write_cache ?? false, read_only: spec.read_only ?? false, allocated: 0,
        c: zeroCounters(),
    }),
});
function sessionsOut() {
    return initiators.map((s) => ({
        tsih: s.tsih, target: s.target, initiator_name: s.initiator_name, isid: s.isid, initiator_port: portOf(s),
        address: s.address, portal: s.portal, login_time: s.login_time,
        header_digest: s.target === VMFS_TARGET ? 'CRC32C' : 'None', data_digest: 'None',
        commands_in_flight: workload ? Math.floor(Math.random() * 4) : 0,
        params: {
            max_recv_data_segment_length: 262144, target_max_recv_data_segment_length: 262144,
            max_burst_length: 1048576, first_burst_length: 262144, immediate_data: true, initial_r2t: false, max_outstanding_r2t: 1,
        },
    }));
}
// A target's port groups (GET /api/v1/targets/{t}/port-groups, GET /api/v1/paths): the single
// implicit group 1 holding every portal, or the declared ones with their portals; every session's
// path is on group 1.
function groupsOut() {
    const group = (id, name, list) => ({
        id, name, state: 'active_optimized', status: 'none', status_code: 0, pending_state: null,
        transition_ends: null, preferred: id === 1, supported_states: ['active_optimized'], relative_target_ports: [],
        portals: list.map((p) => p.address),
    });
    if (!portGroups.declared) {
        return [group(1, '', portals)];
    }
    return portGroups.declared.map((g) => group(g.id, g.name, portals.filter((p) => p.group === g.id)));
}
function pathsOut() {
    const byName = new Map();
    for (const s of [...initiators, ...ended]) {
        const list = byName.get(s.initiator_name) ?? [];
        list.push(s);
        byName.set(s.initiator_name, list);
    }
    return {
        keep_ended_s: KEEP_ENDED_S,
        targets: [TARGET, VMFS_TARGET].map((t) => ({ target: t, explicit_alua: false, groups: groupsOut() })),
        initiators: [...byName].map(([name, list]) => ({
            initiator_name: name, last_failover: null,
            paths: [...new Set(list.map((s) => s.target))].map((t) => ({
                target: t, group: 1, name: '', state: 'active_optimized', pending_state: null, carries_io: true,
                sessions: list.filter((s) => s.target === t).map((s) => ({
                    tsih: s.tsih, isid: s.isid, initiator_port: portOf(s), address: s.address, portal: s.portal,
                    login_time: s.login_time, commands: s.c.successes + s.c.miscompares, errors: 0, commands_in_flight: 0,
                    ended: s.ended ? new Date(s.ended).toISOString() : null,
                })),
            })),
        })),
    };
}
function countersOut(c) {
    const n = (x) => Math.max(1, x);
    return {
        successes: c.successes, miscompares: c.miscompares, injected_miscompares: c.injected_miscompares, errors: c.errors,
        latency_success: lat(c.sum_suc_us / n(c.successes), 800, 4000, 9000, 12000, c.successes),
        latency_failure: lat(c.sum_f_us / n(c.miscompares), 900, 4200, 9500, 13000, c.miscompares),
        lock_wait: lat(120, 40, 900, 2500, 4000, c.successes + c.miscompares),
    };
}
function atsOut() {
    return {
        luns: luns.map((l) => ({ target: l.target, lun: l.lun, ...countersOut(l.c) })),
        initiators: everyone.filter((s) => s.c.successes + s.c.miscompares > 0).map((s) => ({
            target: s.target, lun: 0, initiator_port: portOf(s), initiator_name: s.initiator_name, address: s.address, ...countersOut(s.c),
        })),
        hot_blocks: [...hot.values()].map((b) => ({ ...b })),
    };
}
function latencyOut() {
    return everyone.map((s) => ({
        initiator_port: portOf(s), initiator_name: s.initiator_name, address: s.address,
        ops: Object.fromEntries(Object.entries(s.ops).map(([k, op]) => [k, {
            commands: op.commands, errors: op.errors, latency: opSummary(op),
            buckets: [...op.buckets.entries()].sort((a, b) => a[0] - b[0]),
        }])),
    }));
}

// ------------------------------------------------------------------------------ HTTP server
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
                '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml', '.json': 'application/json', '.txt': 'text/plain', '.LICENSE': 'text/plain' };

function send(res, status, body, type = 'application/json') {
    const data = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(data) });
    res.end(data);
}
const error = (res, status, message) => send(res, status, { error: { status, message } });
const authorised = (req) => req.headers.authorization === `Bearer ${TOKEN}`;
const selfHost = (req) => req.headers.host === `127.0.0.1:${PORT}` || req.headers.host === `localhost:${PORT}`;

function readBody(req, limit = 8192) {
    return new Promise((resolve, reject) => {
        let size = 0;
        const chunks = [];
        req.on('data', (c) => {
            size += c.length;
            if (size > limit) {
                reject(Object.assign(new Error('request body too large'), { status: 413 }));
                req.destroy();
            } else {
                chunks.push(c);
            }
        });
        req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        req.on('error', reject);
    });
}

async function api(req, res, url) {
    const p = url.pathname;
    if (req.method === 'POST' && p === '/__fake/workload') {
        startWorkload(Number(url.searchParams.get('sessions') ?? 4), Number(url.searchParams.get('writers') ?? 1));
        return send(res, 200, { ok: true });
    }
    if (req.method === 'POST' && p === '/__fake/ceph') {
        const health = url.searchParams.get('health');
        if (health) {
            ceph.health = health;
        }
        const b = url.searchParams.get('gateway_b');
        if (b) {
            ceph.gatewayBAlive = b === 'alive';
        }
        return send(res, 200, { health: ceph.health, gateway_b: ceph.gatewayBAlive ? 'alive' : 'dead' });
    }
    if (req.method === 'POST' && p === '/__fake/drop') {
        legacyFirst = url.searchParams.get('legacy_first') === '1';
        for (const c of streams) {
            c.destroy();
        }
        return send(res, 200, { dropped: true });
    }
    if (req.method === 'POST' && p === '/__fake/reconnect') {
        const again = reconnect(url.searchParams.get('name') ?? '');
        return again ? send(res, 200, { initiator_port: portOf(again) }) : error(res, 404, 'no such live initiator');
    }
    if (req.method === 'POST' && p === '/__fake/login') {
        const q = (k) => url.searchParams.get(k);
        const s = login(q('name') ?? 'iqn.1998-01.com.vmware:esx-09', `0x${(nextIsid++).toString(16).padStart(12, '0')}`,
                        `127.0.0.1:${43000 + tsih}`, q('target') ?? TARGET, q('portal') ?? '127.0.0.1:3260');
        return send(res, 200, { initiator_port: portOf(s), tsih: s.tsih });
    }
    if (req.method === 'POST' && p === '/__fake/port-groups') {
        declarePortGroups(url.searchParams.get('explicit') === '1');
        return send(res, 200, { groups: portGroups.declared });
    }
    if (await config.handle(req, res, url, { send, error, authorised, readBody })) {
        return undefined;
    }
    if (await faults.handle(req, res, p, { send, error, authorised, readBody })) {
        return undefined;
    }
    if (req.method === 'POST' && p === '/api/v1/events') {
        if (!authorised(req)) {
            return error(res, 401, 'missing or wrong bearer token');
        }
        let body;
        try {
            body = JSON.parse(await readBody(req));
        } catch (e) {
            return error(res, e.status ?? 400, e.status ? e.message : 'body is not JSON');
        }
        if (typeof body?.message !== 'string' || body.message.length < 1 || body.message.length > 500) {
            return error(res, 400, 'message: a string of 1..500 characters');
        }
        return send(res, 201, addEvent('note', body.message, null, null, null));
    }
    if (req.method !== 'GET') {
        return error(res, 405, `${req.method} not allowed on ${p}`);
    }
    if (p === '/api/v1/session-token') {
        return selfHost(req) ? send(res, 200, { token: TOKEN }) : error(res, 403, 'the token is given only to the console\'s own page');
    }
    if (p === '/api/v1/overview') {
        return send(res, 200, overview());
    }
    if (p === '/api/v1/targets') {
        return send(res, 200, targetsOut());
    }
    const m = /^\/api\/v1\/targets\/([^/]+)\/luns\/([^/]+)$/.exec(p);
    if (m) {
        const t = decodeURIComponent(m[1]);
        const l = luns.find((x) => x.target === t && String(x.lun) === m[2]);
        return l ? send(res, 200, lunOut(l)) : error(res, 404, `unknown LUN ${m[2]} of target ${t}`);
    }
    if (p === '/api/v1/portals') {
        return send(res, 200, portals);
    }
    const pg = /^\/api\/v1\/targets\/([^/]+)\/port-groups$/.exec(p);
    if (pg) {
        const t = decodeURIComponent(pg[1]);
        return targets.some((x) => x.name === t) ? send(res, 200, { target: t, explicit_alua: false, groups: groupsOut() })
                                                 : error(res, 404, `unknown target ${t}`);
    }
    if (p === '/api/v1/sessions') {
        return send(res, 200, sessionsOut());
    }
    if (p === '/api/v1/paths') {
        return send(res, 200, pathsOut());
    }
    if (p === '/api/v1/ats') {
        return send(res, 200, atsOut());
    }
    if (p === '/api/v1/latency') {
        return send(res, 200, latencyOut());
    }
    if (p === '/api/v1/captures') {
        return send(res, 200, { captures: [sampleCapture] });
    }
    if (p === '/api/v1/events') {
        const since = Number(url.searchParams.get('since') ?? 0);
        const limit = Math.min(1000, Number(url.searchParams.get('limit') ?? 200));
        if (!Number.isInteger(since) || !Number.isInteger(limit) || since < 0 || limit < 1) {
            return error(res, 400, 'since and limit are non-negative integers');
        }
        const list = events.filter((e) => e.seq > since);
        return send(res, 200, { last_seq: seq, events: list.slice(Math.max(0, list.length - limit)) });
    }
    return error(res, 404, `no such endpoint: ${p}`);
}

function serveStatic(req, res, url) {
    let rel = decodeURIComponent(url.pathname);
    if (rel.endsWith('/')) {
        rel += 'index.html';
    }
    const file = path.resolve(STATIC, '.' + rel);
    if (!file.startsWith(STATIC + path.sep)) {
        return error(res, 404, 'not found');
    }
    fs.readFile(file, (err, data) => {
        if (err) {
            return error(res, 404, `not found: ${url.pathname}`);
        }
        send(res, 200, data, TYPES[path.extname(file)] ?? 'application/octet-stream');
    });
}

const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host ?? '127.0.0.1'}`);
    if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/__fake/')) {
        api(req, res, url).catch((e) => error(res, 500, e.message));
    } else {
        serveStatic(req, res, url);
    }
});

// ------------------------------------------------------------------------- WebSocket stream
const streams = new Set();
let legacyFirst = false;  // POST /__fake/drop?legacy_first=1: the next streams open as before issue 19
function frame(text) {
    const payload = Buffer.from(text, 'utf8');
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x81, n]) : n < 65536 ? Buffer.from([0x81, 126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([0x81, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
    return Buffer.concat([head, payload]);
}
server.on('upgrade', (req, socket) => {
    const url = new URL(req.url, 'http://x');
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    if (url.pathname !== '/api/v1/stream' || !req.headers['sec-websocket-key']) {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
        return;
    }
    if (!protocols.includes('atsarray.v1') || !protocols.includes(`atsarray.bearer.${TOKEN}`)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
        return;
    }
    const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
                 `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: atsarray.v1\r\n\r\n`);
    streams.add(socket);
    socket.write(frame(JSON.stringify(firstTick(legacyFirst))));
    let buf = Buffer.alloc(0);
    socket.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2) {
            const op = buf[0] & 0x0f;
            let len = buf[1] & 0x7f;
            let o = 2;
            if (len === 126) { len = buf.readUInt16BE(2); o = 4; } else if (len === 127) { len = Number(buf.readBigUInt64BE(2)); o = 10; }
            const masked = (buf[1] & 0x80) !== 0;
            if (buf.length < o + (masked ? 4 : 0) + len) {
                return;
            }
            const mask = masked ? buf.subarray(o, o + 4) : null;
            o += masked ? 4 : 0;
            const payload = Buffer.from(buf.subarray(o, o + len));
            if (mask) {
                for (let i = 0; i < payload.length; i++) {
                    payload[i] ^= mask[i % 4];
                }
            }
            buf = buf.subarray(o + len);
            if (op === 0x8) {
                socket.end(Buffer.from([0x88, 0]));
                streams.delete(socket);
                return;
            }
            if (op === 0x9) {
                socket.write(Buffer.concat([Buffer.from([0x8a, payload.length]), payload]));
            }
        }
    });
    socket.on('close', () => streams.delete(socket));
    socket.on('error', () => streams.delete(socket));
});

setInterval(() => {
    const msg = frame(JSON.stringify(step()));
    for (const s of streams) {
        s.write(msg);
    }
}, INTERVAL);

server.listen(PORT, '127.0.0.1', () => {
    console.log(`listening http://127.0.0.1:${PORT}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => process.exit(0));
}
