// uPlot time-series charts whose set of series follows the data (LUNs and initiators come and
// go): the chart is rebuilt when the series change, otherwise only its data is replaced.
/* global uPlot */

// Colour-blind-friendly palette (Okabe-Ito, then a few more), stable per series key.
const PALETTE = ['#56b4e9', '#e69f00', '#009e73', '#f0e442', '#0072b2', '#d55e00', '#cc79a7',
                 '#999999', '#8dd3c7', '#fb8072', '#bebada', '#80b1d3'];
const colourOf = new Map();
export function colour(group) {
    if (!colourOf.has(group)) {
        colourOf.set(group, PALETTE[colourOf.size % PALETTE.length]);
    }
    return colourOf.get(group);
}

export class TimeChart {
    // spec: {title, yLabel, format(v) -> text for the axis and legend}
    constructor(container, spec) {
        this.container = container;
        this.spec = spec;
        this.plot = null;
        this.signature = '';
        this.observer = new ResizeObserver(() => this.resize());
        this.observer.observe(container);
    }

    size() {
        const w = Math.max(300, this.container.clientWidth - 4);
        return { width: w, height: this.spec.height ?? 220 };
    }

    resize() {
        if (this.plot) {
            const s = this.size();
            if (s.width !== this.plot.width) {
                this.plot.setSize(s);
            }
        }
    }

    // series: [{key, label, group (colour), dash: bool, width}], times: [s], columns: [[v|null]]
    update(times, series, columns) {
        if (typeof uPlot === 'undefined') {
            this.container.textContent = 'uPlot is missing (webui/static/vendor): run npm ci in webui/';
            return;
        }
        // A label that changes (an initiator whose session ended) rebuilds the legend too.
        const signature = series.map((s) => `${s.key}=${s.label}`).join('|');
        const data = [times, ...columns];
        if (!this.plot || signature !== this.signature) {
            this.signature = signature;
            if (this.plot) {
                this.plot.destroy();
            }
            const fmt = this.spec.format ?? ((v) => String(v));
            const opts = {
                ...this.size(),
                class: 'chart',
                cursor: { drag: { x: false, y: false }, points: { size: 6 } },
                legend: { live: true },
                scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max * 1.1, this.spec.minMax ?? 1)] } },
                axes: [
                    { stroke: '#9aa4b2', grid: { stroke: '#2a3240', width: 1 }, ticks: { stroke: '#2a3240' } },
                    {
                        stroke: '#9aa4b2',
                        label: this.spec.yLabel,
                        size: this.spec.axisSize ?? 60,
                        grid: { stroke: '#2a3240', width: 1 },
                        ticks: { stroke: '#2a3240' },
                        values: (u, vals) => vals.map((v) => fmt(v)),
                    },
                ],
                series: [
                    { value: (u, v) => (v === null ? '—' : new Date(v * 1000).toISOString().slice(11, 19)) },
                    ...series.map((s) => ({
                        label: s.label,
                        stroke: colour(s.group ?? s.key),
                        width: s.width ?? 1.5,
                        dash: s.dash ? [5, 4] : undefined,
                        spanGaps: false,
                        points: { show: false },
                        value: (u, v) => (v === null || v === undefined ? '—' : fmt(v)),
                    })),
                ],
            };
            this.container.replaceChildren();
            this.plot = new uPlot(opts, data, this.container);
        } else {
            this.plot.setData(data);
        }
    }
}
