// The child processes of the end-to-end tests (the daemon, the fake server, tools/ats-counter)
// and their loopback ports.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

// A free loopback port: from $E2E_PORT_RANGE ("8091-8099") when set, else the kernel's choice.
export async function freePort() {
    const tryPort = (p) => new Promise((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(null));
        s.listen(p, '127.0.0.1', () => {
            const port = s.address().port;
            s.close(() => resolve(port));
        });
    });
    const range = process.env.E2E_PORT_RANGE;
    if (range) {
        const [lo, hi] = range.split('-').map(Number);
        for (let p = lo; p <= hi; p++) {
            if (!freePort.taken.has(p) && (await tryPort(p)) !== null) {
                freePort.taken.add(p);
                return p;
            }
        }
        throw new Error(`no free port in ${range}`);
    }
    return tryPort(0);
}
freePort.taken = new Set();

export function canConnect(port) {
    return new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => { s.destroy(); resolve(true); });
        s.once('error', () => resolve(false));
    });
}

// Every process started here, for the tests' after() to stop.
export const children = [];

export function startProcess(cmd, args, opts = {}) {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    child.output = '';
    child.stdout.on('data', (d) => { child.output += d; });
    child.stderr.on('data', (d) => { child.output += d; });
    child.exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? 128)));
    children.push(child);
    return child;
}

export async function stopProcess(child) {
    if (child.exitCode !== null || child.signalCode !== null) {
        return;
    }
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await child.exited;
    clearTimeout(t);
}

export async function waitListening(port, child, what) {
    for (let i = 0; i < 400; i++) {
        if (await canConnect(port)) {
            return;
        }
        if (child.exitCode !== null) {
            throw new Error(`${what} exited at start (${child.exitCode}):\n${child.output}`);
        }
        await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${what} did not listen on ${port}:\n${child.output}`);
}

// Starts the daemon `binary` on a config written into `dir`: a loopback portal and console on free
// ports with a random token, the console page from `staticDir`, then `rest` (targets, [fault]),
// where @PORTAL@ stands for the portal's port; `writer` names the test in the config's first
// line. Resolves once both ports listen.
export async function startDaemonWith({ binary, dir, staticDir, writer, rest }) {
    const portal = await freePort();
    const consolePort = await freePort();
    const token = crypto.randomBytes(24).toString('hex');
    const config = path.join(dir, 'atsarray.toml');
    fs.writeFileSync(config, `# written by ${writer}
log_level = "info"
io_threads = 2
data_dir = "data"

[[portal]]
address = "127.0.0.1"
port = ${portal}

[console]
address = "127.0.0.1"
port = ${consolePort}
token = "${token}"
static_dir = "${staticDir}"
${rest.replaceAll('@PORTAL@', String(portal))}`);
    const daemon = startProcess(binary, ['--config', config]);
    await waitListening(portal, daemon, 'atsarray');
    await waitListening(consolePort, daemon, 'atsarray console');
    return { daemon, portal, consolePort, token };
}

// The end of a browser test against the daemon: the browser closed, every child stopped, the
// daemon's log kept in `artifacts` as `logName`, its scratch folder removed.
export async function endRun({ browser, daemon, tmp, artifacts, logName }) {
    if (browser) {
        await browser.close();
    }
    for (const c of children) {
        await stopProcess(c);
    }
    if (daemon) {
        fs.writeFileSync(path.join(artifacts, logName), daemon.output);
    }
    if (tmp) {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}
