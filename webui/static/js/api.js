// The console's only way to the daemon (webui/API.md): JSON GETs at start-up and on demand, a
// bearer token kept in memory for POSTs, and one WebSocket stream of ticks that reconnects with
// backoff. The token never goes into a URL: headers and the WebSocket subprotocol only.

export class ApiError extends Error {
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}

export class Api {
    constructor(base = '') {
        this.base = base;
        this.token = null;
    }

    async request(method, path, body) {
        const headers = { Accept: 'application/json' };
        if (this.token) {
            headers.Authorization = `Bearer ${this.token}`;
        }
        if (body !== undefined) {
            headers['Content-Type'] = 'application/json';
        }
        const res = await fetch(this.base + path, {
            method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            cache: 'no-store',
            credentials: 'omit',
        });
        let data = null;
        const text = await res.text();
        if (text) {
            try {
                data = JSON.parse(text);
            } catch {
                data = null;
            }
        }
        if (!res.ok) {
            const msg = data?.error?.message ?? `${res.status} ${res.statusText}`;
            throw new ApiError(res.status, msg);
        }
        return data;
    }

    get(path) {
        return this.request('GET', path);
    }

    post(path, body) {
        return this.request('POST', path, body);
    }

    // A state-changing call (POST, PATCH, DELETE) with the bearer token: fetched first when the
    // page has none, and once more after a 401 (a daemon that restarted has a new one).
    async change(method, path, body) {
        if (!this.token) {
            await this.fetchToken().catch(() => null);
        }
        try {
            return await this.request(method, path, body);
        } catch (e) {
            if (e.status !== 401 || !(await this.fetchToken().catch(() => null))) {
                throw e;
            }
            return this.request(method, path, body);
        }
    }

    // A file to save (a capture's trace) as a Blob. A link cannot carry the Authorization header
    // a console bound beyond loopback wants on every GET: the page fetches it with the token it
    // has (once more after a 401, as change() does) and saves it itself.
    async blob(path) {
        const get = () => fetch(this.base + path, {
            headers: this.token ? { Authorization: `Bearer ${this.token}` } : {},
            cache: 'no-store',
            credentials: 'omit',
        });
        let res = await get();
        if (res.status === 401 && (await this.fetchToken().catch(() => null))) {
            res = await get();
        }
        if (!res.ok) {
            let msg = `${res.status} ${res.statusText}`;
            try {
                msg = (await res.json())?.error?.message ?? msg;
            } catch {
                // not JSON: the status line says it
            }
            throw new ApiError(res.status, msg);
        }
        return res.blob();
    }

    // The loopback console hands its token to a page it served itself (API.md "Auth").
    async fetchToken() {
        const t = await this.get('/api/v1/session-token');
        this.token = t?.token ?? null;
        return this.token;
    }
}

// One WebSocket to /api/v1/stream; calls onTick(msg) for each tick and onState(state, detail)
// with 'connecting' | 'live' | 'down' (detail: seconds until the next try). Reconnects with
// exponential backoff (1 s doubling to 30 s, with jitter) whenever it drops.
export class Stream {
    constructor(api, { onTick, onState, onOpen }) {
        this.api = api;
        this.onTick = onTick;
        this.onState = onState;
        this.onOpen = onOpen ?? (() => {});
        this.attempt = 0;
        this.ws = null;
        this.timer = null;
        this.stopped = false;
        this.everOpened = false;
        this.failedHandshakes = 0;
    }

    url() {
        const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
        return `${scheme}://${location.host}/api/v1/stream`;
    }

    start() {
        this.stopped = false;
        this.connect();
    }

    stop() {
        this.stopped = true;
        clearTimeout(this.timer);
        if (this.ws) {
            this.ws.close(1000, 'page closed');
        }
    }

    async connect() {
        clearTimeout(this.timer);
        this.onState('connecting');
        if (this.failedHandshakes > 0) {
            // A daemon that restarted has a new token: ask again before the next handshake.
            await this.api.fetchToken().catch(() => null);
        }
        const protocols = ['atsarray.v1'];
        if (this.api.token) {
            protocols.push(`atsarray.bearer.${this.api.token}`);
        }
        let ws;
        try {
            ws = new WebSocket(this.url(), protocols);
        } catch (e) {
            this.retry(String(e));
            return;
        }
        this.ws = ws;
        let opened = false;
        ws.onopen = () => {
            opened = true;
            this.failedHandshakes = 0;
            this.attempt = 0;
            const reconnect = this.everOpened;
            this.everOpened = true;
            this.onState('live');
            this.onOpen(reconnect);
        };
        ws.onmessage = (ev) => {
            let msg;
            try {
                msg = JSON.parse(ev.data);
            } catch {
                return;
            }
            if (msg && msg.type === 'tick') {
                this.onTick(msg);
            }
        };
        ws.onclose = (ev) => {
            if (this.ws !== ws) {
                return;
            }
            this.ws = null;
            if (!opened) {
                this.failedHandshakes++;
            }
            if (!this.stopped) {
                this.retry(opened ? `closed (${ev.code})` : 'cannot connect');
            }
        };
    }

    retry(reason) {
        const base = Math.min(30, 2 ** this.attempt);
        const delay = base * (0.75 + Math.random() * 0.5);
        this.attempt++;
        this.onState('down', { seconds: delay, reason });
        this.timer = setTimeout(() => this.connect(), delay * 1000);
    }
}
