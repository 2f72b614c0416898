// The fault injection endpoints of webui/API.md for tests/e2e/fake_server.mjs: rules kept in
// memory, checked the way target/fault and webui/server/console_model.cpp check them (the same
// messages for the common mistakes), and hit counts that move while the fake workload runs.
// `enabled: false` answers like a daemon whose config keeps injection off.

const ACTIONS = ['false_miscompare', 'miscompare_after_write', 'delay', 'drop_status', 'status', 'drop_connection', 'stale_read'];
const COMMANDS = ['ats', 'read', 'write', 'any'];
const STAGES = ['before_execute', 'before_status'];
const STATUSES = ['busy', 'task_set_full', 'check_condition'];
const PRESETS = [
    { name: 'esxi-heartbeat-timeout', description: '5% of ATS answer after 9-12 s (executed at once): ESXi aborts at 8 s and retries',
      rules: [{ name: 'esxi-heartbeat-timeout', action: 'delay', command: 'ats', stage: 'before_status', delay_ms: 9000, delay_p99_ms: 12000, probability: 0.05 }] },
    { name: 'false-ats-firmware', description: '2% of ATS answer MISCOMPARE although the block matched and write nothing',
      rules: [{ name: 'false-ats-firmware', action: 'false_miscompare', command: 'ats', probability: 0.02 }] },
    { name: 'busy-array', description: '1% of commands answer BUSY: the initiator retries',
      rules: [{ name: 'busy-array', action: 'status', command: 'any', status: 'busy', probability: 0.01 }] },
];
const NUMBERS = { lun: [0, 16383], lba_first: [0, 1e18], lba_last: [0, 1e18], probability: [0, 1], every: [1, 1e9],
                  max_hits: [0, 1e9], active_seconds: [0, 1e9], delay_ms: [0, 600000], delay_p99_ms: [0, 600000], stale_ms: [0, 600000],
                  sense_key: [0, 15], asc: [0, 255], ascq: [0, 255] };
const STRINGS = ['name', 'action', 'target', 'initiator', 'command', 'stage', 'status'];
const LBA_END = 18446744073709551615;

// A FaultRuleSpec checked and completed with the defaults, or {error}.
function toRule(body) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        return { error: 'a rule is a JSON object' };
    }
    for (const key of Object.keys(body)) {
        if (!(key in NUMBERS) && !STRINGS.includes(key) && key !== 'enabled') {
            return { error: `${key}: unknown field` };
        }
    }
    for (const [key, [lo, hi]] of Object.entries(NUMBERS)) {
        const v = body[key];
        if (v !== undefined && v !== null && (typeof v !== 'number' || v < lo || v > hi || (key !== 'probability' && !Number.isInteger(v)))) {
            return { error: `${key}: must be a number in [${lo}, ${hi}]` };
        }
    }
    for (const key of STRINGS) {
        if (body[key] !== undefined && typeof body[key] !== 'string') {
            return { error: `${key}: must be a string` };
        }
    }
    if (body.enabled !== undefined && typeof body.enabled !== 'boolean') {
        return { error: 'enabled: must be true or false' };
    }
    if (!ACTIONS.includes(body.action)) {
        return { error: `action: must be one of ${ACTIONS.join(', ')}` };
    }
    const atsOnly = body.action === 'false_miscompare' || body.action === 'miscompare_after_write';
    const r = {
        name: body.name ?? '', action: body.action, enabled: body.enabled ?? true, target: body.target ?? '',
        lun: body.lun ?? null, initiator: body.initiator ?? '', lba_first: body.lba_first ?? 0, lba_last: body.lba_last ?? LBA_END,
        command: body.command || (atsOnly ? 'ats' : body.action === 'stale_read' ? 'read' : 'any'), probability: body.probability ?? 1, every: body.every ?? 1,
        max_hits: body.max_hits ?? 0, active_seconds: body.active_seconds ?? 0, stage: body.stage || 'before_execute',
        delay_ms: body.delay_ms ?? 0, delay_p99_ms: body.delay_p99_ms ?? 0, status: body.status || 'busy',
        sense_key: body.sense_key ?? 11, asc: body.asc ?? 0, ascq: body.ascq ?? 0, stale_ms: body.stale_ms ?? 5000,
    };
    if (!COMMANDS.includes(r.command)) {
        return { error: 'command: must be ats, read, write or any' };
    }
    if (!STAGES.includes(r.stage)) {
        return { error: 'stage: must be before_execute or before_status' };
    }
    if (!STATUSES.includes(r.status)) {
        return { error: 'status: must be busy, task_set_full or check_condition' };
    }
    // target/fault's validate(), in its order.
    const checks = [
        [r.name.length < 1 || r.name.length > 64, 'name: 1..64 characters'],
        [!(r.probability > 0 && r.probability <= 1), 'probability: must be in (0, 1]'],
        [r.lba_first > r.lba_last, 'lba_first: must not be above lba_last'],
        [atsOnly && r.command !== 'ats', `command: ${r.action} applies to "ats" only`],
        [r.action === 'stale_read' && r.command !== 'read', 'command: stale_read applies to "read" only'],
        [r.action === 'stale_read' && (r.stale_ms < 1 || r.stale_ms > 600000), 'stale_ms: 1..600000 for a stale_read'],
        [r.action === 'delay' && (r.delay_ms < 1 || r.delay_ms > 600000), 'delay_ms: 1..600000 for a delay'],
        [r.action === 'delay' && r.delay_p99_ms !== 0 && r.delay_p99_ms < r.delay_ms, 'delay_p99_ms: must be 0 (fixed) or at least delay_ms'],
        [r.action === 'status' && r.status === 'check_condition' && r.sense_key < 1, 'sense_key: 1..15 for a CHECK CONDITION'],
    ];
    const error = checks.find(([bad]) => bad)?.[1];
    return error ? { error } : { rule: r };
}

export class FakeFaults {
    // addEvent(kind, message, target, lun, initiator): the fake's event log.
    constructor({ enabled = true, addEvent }) {
        this.enabled = enabled;
        this.addEvent = addEvent;
        this.rules = [];
        this.nextId = 1;
    }

    add(rule) {
        const r = { id: this.nextId++, ...rule, created: new Date().toISOString(), matched: 0, hits: 0 };
        this.rules.push(r);
        return r;
    }

    // One tick of the fake workload: every enabled rule sees some commands and triggers on some.
    tick(workload) {
        if (!workload) {
            return;
        }
        for (const r of this.rules.filter((x) => x.enabled)) {
            const n = 20 + Math.floor(Math.random() * 20);
            for (let i = 0; i < n; i++) {
                r.matched++;
                const due = r.matched % r.every === 0 && Math.random() < r.probability;
                if (due && (r.max_hits === 0 || r.hits < r.max_hits)) {
                    r.hits++;
                }
            }
        }
    }

    // Answers /api/v1/faults...; false when `p` is not one of its paths.
    async handle(req, res, p, { send, error, authorised, readBody }) {
        if (p !== '/api/v1/faults' && !p.startsWith('/api/v1/faults/')) {
            return false;
        }
        const parts = p.split('/').slice(4);  // ['', 'api', 'v1', 'faults', ...]
        const reply = (status, body) => {
            send(res, status, body);
            return true;
        };
        const fail = (status, message) => {
            error(res, status, message);
            return true;
        };
        const get = req.method === 'GET';
        if (!get && !authorised(req)) {
            return fail(401, `${req.method} needs the console's access token (Authorization: Bearer)`);
        }
        if (parts.length === 0 && get) {
            return reply(200, { enabled: this.enabled, rules: this.enabled ? this.rules : [] });
        }
        if (parts.length === 1 && parts[0] === 'presets' && get) {
            return reply(200, PRESETS.map(({ name, description }) => ({ name, description })));
        }
        if (!this.enabled) {
            return fail(409, 'fault injection is off: set [fault] enabled = true in the daemon\'s config and restart it');
        }
        if (parts.length === 2 && parts[0] === 'presets' && req.method === 'POST') {
            const preset = PRESETS.find((x) => x.name === decodeURIComponent(parts[1]));
            if (!preset) {
                return fail(404, `no preset "${parts[1]}"`);
            }
            const added = preset.rules.map((spec) => this.add(toRule(spec).rule));
            this.addEvent('fault', `preset ${preset.name} enabled: ${preset.description}`, null, null, null);
            return reply(201, { preset: preset.name, rules: added });
        }
        let body;
        if (req.method === 'POST' || req.method === 'PATCH') {
            try {
                body = JSON.parse(await readBody(req));
            } catch (e) {
                return fail(e.status ?? 400, e.status ? e.message : 'the body is not valid JSON');
            }
        }
        if (parts.length === 0 && req.method === 'POST') {
            const { rule, error: message } = toRule(body);
            if (message) {
                return fail(422, message);
            }
            const r = this.add(rule);
            this.addEvent('fault', `rule ${r.id} "${r.name}" (${r.action}) added`, null, null, null);
            return reply(201, r);
        }
        if (parts.length !== 1) {
            return fail(404, 'no such API path');
        }
        const r = this.rules.find((x) => String(x.id) === parts[0]);
        if (!r) {
            return fail(404, `no fault rule ${parts[0]}`);
        }
        if (get) {
            return reply(200, r);
        }
        if (req.method === 'DELETE') {
            this.rules = this.rules.filter((x) => x !== r);
            this.addEvent('fault', `rule ${r.id} deleted`, null, null, null);
            return reply(200, { deleted: r.id });
        }
        if (req.method === 'PATCH') {
            if (body === null || typeof body !== 'object' || typeof body.enabled !== 'boolean' || Object.keys(body).length !== 1) {
                return fail(422, 'expected {"enabled": true|false}');
            }
            r.enabled = body.enabled;
            this.addEvent('fault', `rule ${r.id} ${r.enabled ? 'enabled' : 'disabled'}`, null, null, null);
            return reply(200, r);
        }
        return fail(405, `method ${req.method} not allowed on a fault rule`);
    }
}
