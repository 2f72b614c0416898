// Tiny DOM helpers: an element builder and a keyed table body that updates rows in place (no
// flicker, selections survive, and a row's text changes only when its value does).

export function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) {
        if (v === null || v === undefined || v === false) {
            continue;
        }
        if (k === 'class') {
            el.className = v;
        } else if (k === 'dataset') {
            Object.assign(el.dataset, v);
        } else if (k.startsWith('on')) {
            el.addEventListener(k.slice(2), v);
        } else {
            el.setAttribute(k, v === true ? '' : v);
        }
    }
    for (const c of children.flat()) {
        if (c === null || c === undefined || c === false) {
            continue;
        }
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
}

export function setText(el, text) {
    const s = String(text);
    if (el.textContent !== s) {
        el.textContent = s;
    }
}

// Rows are [key, cells] where a cell is a string/number or {text, class, title}. The table body
// keeps one <tr data-key> per key in the given order.
export function updateRows(tbody, rows, emptyText = 'none', columns = 1) {
    const existing = new Map();
    for (const tr of [...tbody.children]) {
        if (tr.dataset.key !== undefined) {
            existing.set(tr.dataset.key, tr);
        } else {
            tr.remove();
        }
    }
    const seen = new Set();
    let prev = null;
    for (const [key, cells, rowClass] of rows) {
        seen.add(key);
        let tr = existing.get(key);
        if (!tr) {
            tr = h('tr', { dataset: { key } });
        }
        tr.className = rowClass ?? '';
        while (tr.children.length < cells.length) {
            tr.append(document.createElement('td'));
        }
        cells.forEach((cell, i) => {
            const td = tr.children[i];
            const c = cell !== null && typeof cell === 'object' && !(cell instanceof Node) ? cell : { text: cell };
            if (c.node) {
                if (td.firstChild !== c.node) {
                    td.replaceChildren(c.node);
                }
            } else {
                setText(td, c.text ?? '');
            }
            td.className = c.class ?? '';
            if (c.title) {
                td.title = c.title;
            }
        });
        const want = prev ? prev.nextSibling : tbody.firstChild;
        if (want !== tr) {
            tbody.insertBefore(tr, want);
        }
        prev = tr;
    }
    for (const [key, tr] of existing) {
        if (!seen.has(key)) {
            tr.remove();
        }
    }
    if (rows.length === 0) {
        tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: columns }, emptyText)));
    }
}
