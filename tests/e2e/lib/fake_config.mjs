// The live-configuration endpoints of issue 19 (/work/wt/prompts/issue19-api.md, webui/API.md)
// for tests/e2e/fake_server.mjs: targets, LUNs, ACLs, CHAP, portals and `config save`, kept in
// the fake's memory and checked as the contract says: a bearer token on every change (401), a
// JSON body (415), 400 naming the field in the config file's words ("lun.block_size: must be 512
// or 4096"), 404 naming what is unknown, 409 for a conflict (exists, sessions and no force, a
// shrink). A refused change changes nothing; one that succeeds is a "config" event.

const BACKENDS = ['file', 'rocksdb', 'memory', 'rbd'];
const LUN_KEYS = ['id', 'backend', 'size', 'path', 'direct', 'block_size', 'serial', 'vendor', 'product', 'write_cache',
                  'read_only', 'removable', 'read_delay_us', 'write_delay_us', 'pool', 'image', 'ceph_conf', 'client',
                  'keyring', 'create', 'timeout_s'];
const TARGET_KEYS = ['name', 'alias', 'allowed_initiators', 'chap', 'mutual_chap', 'require_mutual', 'luns'];
const UNITS = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
const NAME = /^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[^\s]+)?|eui\.[0-9a-fA-F]{16}|naa\.([0-9a-fA-F]{16}|[0-9a-fA-F]{32}))$/;

class Refused extends Error {
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}
const bad = (message) => new Refused(400, message);

// A size as the config file takes it: a number of bytes or "16GiB".
export function parseSize(v, key) {
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) {
        return v;
    }
    const m = typeof v === 'string' ? /^\s*(\d+)\s*(B|KiB|MiB|GiB|TiB)?\s*$/.exec(v) : null;
    if (!m) {
        throw bad(`${key}: must be a number of bytes or a string such as "1GiB", got ${JSON.stringify(v)}`);
    }
    const n = Number(m[1]) * UNITS[m[2] ?? 'B'];
    if (n <= 0) {
        throw bad(`${key}: must be greater than 0, got "${v}"`);
    }
    return n;
}

function fmtSize(n) {
    for (const u of ['TiB', 'GiB', 'MiB', 'KiB']) {
        if (n % UNITS[u] === 0) {
            return `${n / UNITS[u]} ${u}`;
        }
    }
    return `${n} B`;
}

function checkChap(c, key) {
    if (c === null || c === undefined) {
        return null;
    }
    if (typeof c !== 'object' || typeof c.user !== 'string' || typeof c.secret !== 'string') {
        throw bad(`${key}: must be {"user", "secret"} or null`);
    }
    if (c.user.length < 1 || c.user.length > 255) {
        throw bad(`${key}.user: must be 1 to 255 printable ASCII characters`);
    }
    if (c.secret.length < 12 || c.secret.length > 255) {
        throw bad(`${key}.secret: must be 12 to 255 bytes (RFC 7143 §9.2.1)`);
    }
    return { user: c.user, secret: c.secret };
}

export class FakeConfig {
    // targets: [{name, alias, portal_group_tag, allowed_initiators, chap, mutual_chap,
    // require_mutual}]; luns: the fake's LUN list ({target, lun, block_size, block_count, store,
    // ...}); sessionsOf(target) -> sessions logged in to it; logout(session); newLun(target,
    // spec) -> a LUN for `luns`; lunOut(lun) -> JSON; targetOut(target) -> JSON; addEvent;
    // portals: [{address: "a:p", group?}]; sessionsOn(address) -> sessions logged in on that
    // portal; portGroups() -> [{id, name}] of the declared target port groups, or null.
    constructor({ targets, luns, portals, sessionsOf, sessionsOn, portGroups, logout, newLun, lunOut, targetOut, addEvent }) {
        Object.assign(this, { targets, luns, portals, sessionsOf, sessionsOn, portGroups, logout, newLun, lunOut, targetOut, addEvent });
        this.saves = 0;
    }

    target(name) {
        const t = this.targets.find((x) => x.name === name);
        if (!t) {
            throw new Refused(404, `unknown target ${name}`);
        }
        return t;
    }

    lun(t, id) {
        const l = this.luns.find((x) => x.target === t.name && String(x.lun) === String(id));
        if (!l) {
            throw new Refused(404, `unknown LUN ${id} of target ${t.name}`);
        }
        return l;
    }

    // A LunBody checked as a [[target.lun]] table is; returns the spec the fake keeps.
    lunSpec(t, body) {
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
            throw bad('lun: must be a JSON object');
        }
        for (const key of Object.keys(body)) {
            if (!LUN_KEYS.includes(key)) {
                throw bad(`lun.${key}: unknown key`);
            }
        }
        if (body.id === undefined) {
            throw bad('lun.id: required key is missing');
        }
        if (!Number.isInteger(body.id) || body.id < 0 || body.id > 16383) {
            throw bad(`lun.id: must be 0..16383, got ${JSON.stringify(body.id)}`);
        }
        if (!BACKENDS.includes(body.backend)) {
            throw bad(body.backend === undefined ? 'lun.backend: required key is missing'
                                                 : `lun.backend: must be "file", "rocksdb", "memory" or "rbd", got ${JSON.stringify(body.backend)}`);
        }
        if (body.backend === 'file' && (typeof body.path !== 'string' || body.path === '')) {
            throw bad('lun.path: required for backend "file"');
        }
        if (body.path !== undefined && body.backend !== 'file') {
            throw bad(`lun.path: not allowed for backend "${body.backend}"`);
        }
        const blockSize = body.block_size ?? 512;
        if (blockSize !== 512 && blockSize !== 4096) {
            throw bad('lun.block_size: must be 512 or 4096');
        }
        if (body.size === undefined) {
            throw bad('lun.size: required key is missing');
        }
        const size = parseSize(body.size, 'lun.size');
        if (size % blockSize !== 0) {
            throw bad(`lun.size: size ${size} is not a multiple of block_size ${blockSize}`);
        }
        if (this.luns.some((x) => x.target === t.name && x.lun === body.id)) {
            throw new Refused(409, `target ${t.name} has a LUN ${body.id} already`);
        }
        return { ...body, block_size: blockSize, size_bytes: size };
    }

    // Sessions on `t` refuse a removal without force; with force they are logged out.
    // `then` says what ?force=true does to them.
    sessionsOrForce(t, force, then) {
        const sessions = this.sessionsOf(t.name);
        if (sessions.length && !force) {
            throw new Refused(409, `${sessions.length} session${sessions.length === 1 ? ' is' : 's are'} logged in to target ${t.name}: ${then}`);
        }
        return sessions;
    }

    // A new portal's "group": one of the declared target port groups (each portal is in exactly
    // one, configs/default.toml), none without them. Returns the id or null.
    portalGroup(group) {
        const groups = this.portGroups();
        if (!groups) {
            if (group !== undefined && group !== null) {
                throw bad('portal.group: only with [[target_port_group]] (this array has none)');
            }
            return null;
        }
        const ids = groups.map((g) => g.id).join(', ');
        if (group === undefined || group === null) {
            throw bad(`portal.group: required: every portal is in one target port group (${ids})`);
        }
        if (!groups.some((g) => g.id === group)) {
            throw bad(`portal.group: no target port group ${JSON.stringify(group)} (there are ${ids})`);
        }
        return group;
    }

    acl(t) {
        return { target: t.name, allowed_initiators: [...t.allowed_initiators], any_initiator: t.allowed_initiators.length === 0 };
    }

    chap(t) {
        return { target: t.name, chap_user: t.chap?.user ?? null, mutual_chap_user: t.mutual_chap?.user ?? null, require_mutual: t.require_mutual };
    }

    toml() {
        const q = (s) => JSON.stringify(s);
        const out = ['# the running configuration (tests/e2e/fake_server.mjs)'];
        for (const p of this.portals) {
            const [address, port] = p.address.split(':');
            out.push('', '[[portal]]', `address = ${q(address)}`, `port = ${port}`);
        }
        for (const t of this.targets) {
            out.push('', '[[target]]', `name = ${q(t.name)}`);
            if (t.alias) {
                out.push(`alias = ${q(t.alias)}`);
            }
            if (t.allowed_initiators.length) {
                out.push(`allowed_initiators = [${t.allowed_initiators.map(q).join(', ')}]`);
            }
            for (const l of this.luns.filter((x) => x.target === t.name)) {
                out.push('', '[[target.lun]]', `id = ${l.lun}`, `backend = ${q(l.backend ?? l.store)}`,
                         `size = ${l.block_size * l.block_count}`, `block_size = ${l.block_size}`);
                if (l.path) {
                    out.push(`path = ${q(l.path)}`);
                }
            }
        }
        return out.join('\n') + '\n';
    }

    // Answers the request when it is one of these endpoints (true), else false.
    async handle(req, res, url, { send, error, authorised, readBody }) {
        const p = url.pathname;
        const m = /^\/api\/v1\/(config(?:\/save)?|targets(?:\/([^/]+)(?:\/(luns|acl|chap)(?:\/([^/]+))?)?)?|portals(?:\/([^/]+))?)$/.exec(p);
        if (!m) {
            return false;
        }
        const [, , rawTarget, sub, rawItem, rawPortal] = m;
        const head = p.split('/')[3];
        const method = req.method;
        const force = url.searchParams.get('force') === 'true';
        // What stays with the read-only endpoints the fake server answers itself.
        const isRead = method === 'GET' && !(head === 'config' || sub === 'acl' || sub === 'chap');
        if (isRead) {
            return false;
        }
        try {
            if (method !== 'GET' || head === 'config') {
                if (!authorised(req)) {
                    throw new Refused(401, `${method} ${p} needs the console's access token (Authorization: Bearer)`);
                }
            }
            let body;
            if (['POST', 'PUT', 'PATCH'].includes(method)) {
                const text = await readBody(req);
                if (text.length) {
                    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
                        throw new Refused(415, 'the body must be Content-Type: application/json');
                    }
                    try {
                        body = JSON.parse(text);
                    } catch {
                        throw bad('the body is not valid JSON');
                    }
                }
            }
            const reply = (status, answer) => {
                send(res, status, answer);
                return true;
            };
            const target = rawTarget === undefined ? null : decodeURIComponent(rawTarget);
            const item = rawItem === undefined ? null : decodeURIComponent(rawItem);

            if (p === '/api/v1/config' && method === 'GET') {
                send(res, 200, this.toml(), 'text/plain; charset=utf-8');
                return true;
            }
            if (p === '/api/v1/config/save' && method === 'POST') {
                if (body !== undefined && (typeof body !== 'object' || body === null || Object.keys(body).length)) {
                    throw bad('config save takes no body or {}');
                }
                const text = this.toml();
                this.saves++;
                this.addEvent('config', `configuration saved to /etc/atsarray/atsarray.toml (${text.length} bytes)`, null, null, null);
                return reply(200, { path: '/etc/atsarray/atsarray.toml', bytes: Buffer.byteLength(text) });
            }
            if (head === 'targets' && target === null && method === 'POST') {
                if (body === undefined || typeof body !== 'object' || body === null) {
                    throw bad('target: must be a JSON object');
                }
                for (const key of Object.keys(body)) {
                    if (!TARGET_KEYS.includes(key)) {
                        throw bad(`target.${key}: unknown key`);
                    }
                }
                if (typeof body.name !== 'string' || !NAME.test(body.name)) {
                    throw bad(body.name === undefined ? 'target.name: required key is missing'
                                                      : 'target.name: must be an iqn. (lowercase), eui. or naa. name');
                }
                if (this.targets.some((t) => t.name === body.name)) {
                    throw new Refused(409, `target ${body.name} exists already`);
                }
                const t = { name: body.name, alias: body.alias ?? '', portal_group_tag: 1, allowed_initiators: body.allowed_initiators ?? [],
                            chap: checkChap(body.chap, 'target.chap'), mutual_chap: checkChap(body.mutual_chap, 'target.mutual_chap'),
                            require_mutual: body.require_mutual === true };
                const specs = (body.luns ?? []).map((l) => this.lunSpec(t, l));
                this.targets.push(t);
                for (const s of specs) {
                    this.luns.push(this.newLun(t.name, s));
                }
                this.addEvent('config', `target ${t.name} added`, t.name, null, null);
                return reply(201, this.targetOut(t));
            }
            if (head === 'targets' && target !== null && sub === undefined && method === 'DELETE') {
                const t = this.target(target);
                const sessions = this.sessionsOrForce(t, force, '?force=true logs them out');
                sessions.forEach((s) => this.logout(s));
                this.targets.splice(this.targets.indexOf(t), 1);
                for (let i = this.luns.length - 1; i >= 0; i--) {
                    if (this.luns[i].target === t.name) {
                        this.luns.splice(i, 1);
                    }
                }
                this.addEvent('config', `target ${t.name} removed (${sessions.length} sessions closed)`, t.name, null, null);
                return reply(200, { target: t.name, sessions_closed: sessions.length });
            }
            if (sub === 'luns' && item === null && method === 'POST') {
                const t = this.target(target);
                const spec = this.lunSpec(t, body ?? {});
                const l = this.newLun(t.name, spec);
                this.luns.push(l);
                this.addEvent('config', `target ${t.name} lun ${l.lun} added: ${spec.backend}${spec.path ? ' ' + spec.path : ''} ${fmtSize(spec.size_bytes)}`, t.name, l.lun, null);
                return reply(201, this.lunOut(l));
            }
            if (sub === 'luns' && item !== null && method === 'PATCH') {
                const t = this.target(target);
                const l = this.lun(t, item);
                if (body === undefined || typeof body !== 'object' || body === null || body.size === undefined) {
                    throw bad('lun.size: required key is missing');
                }
                for (const key of Object.keys(body)) {
                    if (key !== 'size') {
                        throw bad(`lun.${key}: only the size changes on a running LUN`);
                    }
                }
                const size = parseSize(body.size, 'lun.size');
                const now = l.block_size * l.block_count;
                if (size % l.block_size !== 0) {
                    throw bad(`lun.size: size ${size} is not a multiple of block_size ${l.block_size}`);
                }
                if (size < now) {
                    throw new Refused(409, `shrinking LUN ${l.lun} of target ${t.name} from ${fmtSize(now)} to ${fmtSize(size)} would discard data`);
                }
                l.block_count = size / l.block_size;
                this.addEvent('config', `target ${t.name} lun ${l.lun} grown to ${fmtSize(size)}`, t.name, l.lun, null);
                return reply(200, this.lunOut(l));
            }
            if (sub === 'luns' && item !== null && method === 'DELETE') {
                const t = this.target(target);
                const l = this.lun(t, item);
                const sessions = this.sessionsOrForce(t, force, '?force=true removes the LUN all the same (they get REPORTED LUNS DATA HAS CHANGED)');
                this.luns.splice(this.luns.indexOf(l), 1);
                this.addEvent('config', `target ${t.name} lun ${l.lun} removed (the data is kept)`, t.name, l.lun, null);
                return reply(200, { target: t.name, lun: l.lun, sessions: sessions.length });
            }
            if (sub === 'acl' && item === null && method === 'GET') {
                return reply(200, this.acl(this.target(target)));
            }
            if (sub === 'acl' && item === null && method === 'POST') {
                const t = this.target(target);
                const who = body?.initiator;
                if (typeof who !== 'string' || !NAME.test(who)) {
                    throw bad('initiator: must be an iqn. (lowercase), eui. or naa. name');
                }
                if (t.allowed_initiators.includes(who)) {
                    throw new Refused(409, `${who} is in the ACL of target ${t.name} already`);
                }
                t.allowed_initiators.push(who);
                this.addEvent('config', `target ${t.name}: ${who} allowed`, t.name, null, who);
                return reply(201, this.acl(t));
            }
            if (sub === 'acl' && item !== null && method === 'DELETE') {
                const t = this.target(target);
                const i = t.allowed_initiators.indexOf(item);
                if (i < 0) {
                    throw new Refused(404, `${item} is not in the ACL of target ${t.name}`);
                }
                t.allowed_initiators.splice(i, 1);
                const theirs = force ? this.sessionsOf(t.name).filter((s) => s.initiator_name === item) : [];
                theirs.forEach((s) => this.logout(s));
                this.addEvent('config', `target ${t.name}: ${item} removed from the ACL${force ? ` (${theirs.length} sessions logged out)` : ''}`,
                              t.name, null, item);
                return reply(200, this.acl(t));
            }
            if (sub === 'chap' && item === null && method === 'GET') {
                return reply(200, this.chap(this.target(target)));
            }
            if (sub === 'chap' && item === null && method === 'PUT') {
                const t = this.target(target);
                if (body === undefined || typeof body !== 'object' || body === null) {
                    throw bad('chap: must be a JSON object');
                }
                const chap = checkChap(body.chap, 'chap');
                const mutual = checkChap(body.mutual_chap, 'mutual_chap');
                const requireMutual = body.require_mutual === true;
                if (mutual && !chap) {
                    throw bad('mutual_chap: needs chap');
                }
                if (mutual && chap && mutual.secret === chap.secret) {
                    throw bad('mutual_chap.secret: must differ from chap.secret');
                }
                if (requireMutual && !mutual) {
                    throw bad('require_mutual: needs mutual_chap');
                }
                Object.assign(t, { chap, mutual_chap: mutual, require_mutual: requireMutual });
                this.addEvent('config', `target ${t.name}: CHAP ${chap ? `set for user ${chap.user}` : 'cleared'}`, t.name, null, null);
                return reply(200, this.chap(t));
            }
            if (head === 'portals' && rawPortal === undefined && method === 'POST') {
                if (typeof body?.address !== 'string' || body.address.trim() === '') {
                    throw bad('portal.address: required key is missing');
                }
                if (!Number.isInteger(body.port) || body.port < 1 || body.port > 65535) {
                    throw bad(`portal.port: must be 1..65535, got ${JSON.stringify(body.port ?? null)}`);
                }
                const group = this.portalGroup(body.group);
                const address = `${body.address}:${body.port}`;
                if (this.portals.some((x) => x.address === address)) {
                    throw new Refused(409, `portal ${address} exists already`);
                }
                const portal = group === null ? { address } : { address, group };
                this.portals.push(portal);
                this.addEvent('config', `portal ${address} added${group === null ? '' : ` to target port group ${group}`}`, null, null, null);
                return reply(201, { ...portal });
            }
            if (head === 'portals' && rawPortal !== undefined && method === 'DELETE') {
                const address = decodeURIComponent(rawPortal);
                const i = this.portals.findIndex((x) => x.address === address);
                if (i < 0) {
                    throw new Refused(404, `unknown portal ${address}`);
                }
                const sessions = this.sessionsOn(address);
                if (sessions.length && !force) {
                    throw new Refused(409, `${sessions.length} session${sessions.length === 1 ? ' uses' : 's use'} portal ${address}: ?force=true logs ${sessions.length === 1 ? 'it' : 'them'} out`);
                }
                sessions.forEach((s) => this.logout(s));
                this.portals.splice(i, 1);
                this.addEvent('config', `portal ${address} removed (${sessions.length} sessions closed)`, null, null, null);
                return reply(200, { portal: address, sessions_closed: sessions.length });
            }
            throw new Refused(405, `${method} not allowed on ${p}`);
        } catch (e) {
            if (!(e instanceof Refused) && e.status === undefined) {
                throw e;
            }
            error(res, e.status, e.message);
            return true;
        }
    }
}
