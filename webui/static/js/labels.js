// Short, stable labels for targets, LUNs and initiators (the full names go in tooltips).

export function shortTarget(name) {
    if (!name) {
        return '?';
    }
    const i = name.lastIndexOf(':');
    return i >= 0 && i < name.length - 1 ? name.slice(i + 1) : name;
}

export function lunKey(target, lun) {
    return `${target}/${lun}`;
}

export function lunLabel(target, lun) {
    return `${shortTarget(target)}/${lun}`;
}

// An initiator port is the IQN plus ISID; many tools reuse one IQN with several ISIDs, so the
// ISID's low bytes tell sessions apart when the names are equal.
export function initiatorLabel(ini, all = []) {
    const name = shortTarget(ini.initiator_name ?? ini.initiator_port ?? '?');
    const twins = all.filter((o) => shortTarget(o.initiator_name) === name && o.initiator_port !== ini.initiator_port);
    if (twins.length === 0) {
        return name;
    }
    const m = /0x([0-9a-f]+)/i.exec(ini.initiator_port ?? '');
    return m ? `${name} ${m[1].slice(-4)}` : `${name} ${ini.address ?? ''}`;
}

// Initiator ports with a session first, then those whose session ended (a tick lists those for
// keep_ended_s, "live": false): an initiator that reconnects gets a new port (a new ISID) each
// time, and its ended ports sort next to it by name, so without this its live row and legend
// entry sit below every ended one (issue 19). Otherwise the order stays as given.
export function liveFirst(list, isLive = (i) => i.live !== false) {
    return [...list].sort((a, b) => Number(!isLive(a)) - Number(!isLive(b)));
}

// An initiator as the API names it, the IQN or the port ("iqn…:esx-01,i,0x00023d000001"),
// shortened to the IQN's last part (the full text goes in the tooltip).
export function shortInitiator(text) {
    if (!text) {
        return '';
    }
    const m = /^(.*),i,0x[0-9a-f]+$/i.exec(text);
    return shortTarget(m ? m[1] : text);
}
