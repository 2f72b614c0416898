// The last few minutes of stream ticks, as the charts need them: one x value per tick and, per
// series key, a value or null; and the rates a tick gives. Pure (tests/e2e/unit/format.test.mjs).

// The seconds a tick's deltas cover, or null when it has none to give: the first tick of a stream
// ("first": true, interval_ms 0, its deltas null; webui/API.md) or any tick without an interval.
// Dividing by a made-up interval instead turned the counters' totals into a spike (issue 19).
export function tickSeconds(tick) {
    if (!tick || tick.first === true) {
        return null;
    }
    const ms = Number(tick.interval_ms);
    return Number.isFinite(ms) && ms > 0 ? ms / 1000 : null;
}

// A delta over `secs` (tickSeconds) as a rate per second; null when either is missing.
export function perSecond(delta, secs) {
    if (secs === null || secs === undefined || delta === null || delta === undefined) {
        return null;
    }
    const d = Number(delta);
    return Number.isFinite(d) ? d / secs : null;
}

export class TickHistory {
    constructor(windowSeconds = 300) {
        this.window = windowSeconds;
        this.times = [];     // seconds since the epoch, ascending
        this.series = new Map();  // key -> array aligned with times
    }

    // Adds one sample: `values` maps series keys to numbers (or null). Series that are absent in
    // this tick get null, so a line shows a gap rather than a made-up value.
    push(timeSeconds, values) {
        if (this.times.length > 0 && timeSeconds <= this.times[this.times.length - 1]) {
            return false;
        }
        const index = this.times.length;
        this.times.push(timeSeconds);
        for (const [key, v] of Object.entries(values)) {
            if (!this.series.has(key)) {
                this.series.set(key, new Array(index).fill(null));
            }
        }
        for (const [key, arr] of this.series) {
            const v = values[key];
            arr.push(v === undefined ? null : v);
        }
        this.trim(timeSeconds);
        return true;
    }

    // Marks a gap (the stream dropped) so lines do not join across it.
    gap(timeSeconds) {
        this.push(timeSeconds, {});
    }

    trim(now) {
        let drop = 0;
        while (drop < this.times.length && this.times[drop] < now - this.window) {
            drop++;
        }
        if (drop > 0) {
            this.times.splice(0, drop);
            for (const [key, arr] of this.series) {
                arr.splice(0, drop);
                if (arr.every((v) => v === null)) {
                    this.series.delete(key);
                }
            }
        }
    }

    keys(prefix = '') {
        return [...this.series.keys()].filter((k) => k.startsWith(prefix)).sort();
    }

    values(key) {
        return this.series.get(key) ?? new Array(this.times.length).fill(null);
    }

    // Sum of a series over the window (nulls count as 0).
    sum(key) {
        return this.values(key).reduce((s, v) => s + (v ?? 0), 0);
    }
}
