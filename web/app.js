/* SPDX-License-Identifier: MIT */
/*
 * Bulkhead web console: a single page over the manager's REST API (docs/api.md).
 *
 * The page polls GET /api/v1/stats once a second and redraws only what changed:
 * each section is rebuilt when its shape changes (an NF appears, a chain is
 * edited) and otherwise just has its numbers refreshed, so buttons and inputs
 * stay put under the pointer. Charts read GET /api/v1/stats/history; while the
 * manager does not offer it, the console keeps its own history from the polls.
 * Events come from the SSE stream GET /api/v1/events. Calls that change
 * anything carry the bearer token kept in localStorage (a "#token=..." in the
 * address, as printed by `make demo`, is stored and removed from the address).
 */
'use strict';

(() => {
	const API = '/api/v1/';
	const POLL_MS = 1000;
	const HISTORY_MS = 2000;
	const HISTORY_POINTS = 300;
	const TOKEN_KEY = 'bulkhead.token';

	const S = {
		snap: null, // last GET /api/v1/stats
		pollOk: false,
		history: null, // last GET /api/v1/stats/history, or null
		historyServer: true, // false once the manager said 404: use `local`
		local: { t: [], ports: {}, nfs: {} },
		rules: null, // GET /api/v1/rules, or null when not offered
		rulesApi: true,
		catalog: null,
		events: [],
		eventSeq: -1,
		eventsState: 'connecting',
		pendingScale: {}, // service -> {n, until}: what +/- count from until the stats catch up
		route: { name: 'dashboard', arg: null },
	};

	/* ------------------------------------------------------------------ */
	/* small helpers                                                       */

	const $ = (sel, root = document) => root.querySelector(sel);

	/* el('div', {class: 'x', onclick: f, 'data-k': 1}, child, 'text', [more]) */
	function el(tag, props, ...kids) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(props || {})) {
			if (v === undefined || v === null || v === false) continue;
			if (k === 'class') e.className = v;
			else if (k === 'text') e.textContent = v;
			else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
			else if (k === 'value') e.value = v;
			else e.setAttribute(k, v === true ? '' : v);
		}
		for (const c of kids.flat(Infinity)) {
			if (c === null || c === undefined || c === false) continue;
			e.append(c instanceof Node ? c : document.createTextNode(String(c)));
		}
		return e;
	}

	function fmtInt(n) {
		return n === undefined || n === null ? '–' : Number(n).toLocaleString('en-US');
	}

	function fmtRate(x) {
		if (x === undefined || x === null || Number.isNaN(x)) return '–';
		const a = Math.abs(x);
		if (a >= 1e9) return (x / 1e9).toFixed(2) + 'G';
		if (a >= 1e6) return (x / 1e6).toFixed(2) + 'M';
		if (a >= 1e4) return (x / 1e3).toFixed(1) + 'k';
		if (a >= 100) return x.toFixed(0);
		if (a >= 10) return x.toFixed(1);
		return x.toFixed(a === 0 ? 0 : 2);
	}

	function fmtBits(x) {
		if (x === undefined || x === null) return '–';
		if (x >= 1e9) return (x / 1e9).toFixed(2) + ' Gbit/s';
		if (x >= 1e6) return (x / 1e6).toFixed(2) + ' Mbit/s';
		if (x >= 1e3) return (x / 1e3).toFixed(1) + ' kbit/s';
		return x.toFixed(0) + ' bit/s';
	}

	function fmtUptime(s) {
		s = Math.floor(s || 0);
		const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
		if (d) return `${d}d ${h}h`;
		if (h) return `${h}h ${m}m`;
		return `${m}m ${s % 60}s`;
	}

	/* Event and chart times: unix seconds, or ms / ns since the epoch, or an ISO string. */
	function fmtTime(t) {
		if (t === undefined || t === null || t === '') return '';
		let ms;
		if (typeof t === 'string') ms = Date.parse(t);
		else if (t > 1e17) ms = t / 1e6;
		else if (t > 1e11) ms = t;
		else ms = t * 1000;
		return Number.isNaN(ms) ? String(t) : new Date(ms).toLocaleTimeString('en-GB');
	}

	/* An NF's displayed state: asleep is a running NF blocked on its doorbell. */
	function nfState(nf) {
		if (nf.state === 'running' && nf.sleeping) return 'asleep';
		return nf.state || '?';
	}

	function nfKey(nf) {
		return `${nf.name}#${nf.id}`;
	}

	function nfById(id) {
		return S.snap && (S.snap.nfs || []).find((n) => String(n.id) === String(id));
	}

	function nfsOf(service) {
		return ((S.snap && S.snap.nfs) || []).filter((n) => n.service === service);
	}

	function serviceInstances(name) {
		const s = ((S.snap && S.snap.services) || []).find((x) => x.name === name);
		return s ? s.instances : 0;
	}

	/* A service's isolation policy as configured (docs/config.md): a badge, every field on hover. */
	function isolationBadge(name) {
		const s = ((S.snap && S.snap.services) || []).find((x) => x.name === name);
		const iso = s && s.isolation;
		if (!iso) return null;
		return el('span', { class: 'badge iso', 'data-field': 'isolation',
			title: Object.entries(iso).map(([k, v]) => `${k}: ${v}`).join('\n') },
		`isolated: ${iso.unit}, ${iso.recycle || 'fresh'}`);
	}

	function ringPct(ring) {
		if (!ring || !ring.rx_size) return 0;
		return Math.min(100, (100 * ring.rx_count) / ring.rx_size);
	}

	/* ------------------------------------------------------------------ */
	/* token, toasts, banner                                               */

	function token() {
		return localStorage.getItem(TOKEN_KEY) || '';
	}

	function takeTokenFromAddress() {
		const m = /(?:^#|[#&])token=([^&]*)/.exec(location.hash);
		if (!m) return;
		localStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
		history.replaceState(null, '', location.pathname + location.search + '#/');
	}

	function setupToken() {
		const input = $('#token');
		input.value = token();
		$('#token-form').addEventListener('submit', (ev) => {
			ev.preventDefault();
			const v = input.value.trim();
			if (v) localStorage.setItem(TOKEN_KEY, v);
			else localStorage.removeItem(TOKEN_KEY);
			toast(v ? 'token saved in this browser' : 'token cleared', 'ok');
		});
	}

	function toast(msg, kind = 'info') {
		const t = el('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, msg);
		t.addEventListener('click', () => t.remove());
		$('#toasts').append(t);
		setTimeout(() => t.remove(), kind === 'error' ? 10000 : 4000);
	}

	function banner(msg) {
		const b = $('#banner');
		b.hidden = !msg;
		b.textContent = msg || '';
	}

	/* ------------------------------------------------------------------ */
	/* the API                                                              */

	class ApiError extends Error {
		constructor(status, msg) {
			super(msg);
			this.status = status;
		}
	}

	async function api(method, path, body) {
		const opt = { method, headers: { Accept: 'application/json' }, cache: 'no-store' };
		if (method !== 'GET' && token()) opt.headers.Authorization = `Bearer ${token()}`;
		if (body !== undefined) {
			opt.headers['Content-Type'] = 'application/json';
			opt.body = JSON.stringify(body);
		}
		let res;
		try {
			res = await fetch(API + path, opt);
		} catch (e) {
			throw new ApiError(0, `cannot reach the manager (${e.message})`);
		}
		const text = await res.text();
		let doc = null;
		try {
			doc = text ? JSON.parse(text) : null;
		} catch {
			doc = null;
		}
		if (!res.ok) {
			const why = doc && typeof doc.error === 'string' ? doc.error : `HTTP ${res.status}`;
			throw new ApiError(res.status, why);
		}
		return doc;
	}

	/* A change: runs the call, reports the outcome as a toast, refreshes.
	 * `what` is the message, or a function of the reply that makes it. */
	async function act(what, method, path, body) {
		try {
			const r = await api(method, path, body);
			toast(typeof what === 'function' ? what(r || {}) : what, 'ok');
			poll();
			return r ?? {};
		} catch (e) {
			if (e.status === 401 || e.status === 403) {
				$('#token').focus();
				$('#token-form').classList.add('want');
				setTimeout(() => $('#token-form').classList.remove('want'), 3000);
			}
			toast(`${method} ${API}${path}: ${e.message}`, 'error');
			return null;
		}
	}

	/* ------------------------------------------------------------------ */
	/* polling and history                                                  */

	let pollTimer = null;
	let pollBusy = false;

	async function poll() {
		clearTimeout(pollTimer);
		if (pollBusy) {
			pollTimer = setTimeout(poll, 100);
			return;
		}
		pollBusy = true;
		try {
			const snap = await api('GET', 'stats');
			const pid = (x) => x && x.manager && x.manager.pid;
			if (S.snap && pid(snap) !== pid(S.snap)) {
				/* a new manager: its event numbers start again */
				S.events = [];
				S.eventSeq = -1;
				renderEvents();
			}
			S.snap = snap;
			S.pollOk = true;
			banner(null);
			recordLocal(S.snap);
		} catch (e) {
			S.pollOk = false;
			banner(`No statistics from the manager: ${e.message}. Retrying…`);
		}
		pollBusy = false;
		updateHeader();
		update();
		pollTimer = setTimeout(poll, POLL_MS);
	}

	function pushCapped(arr, v) {
		arr.push(v);
		if (arr.length > HISTORY_POINTS) arr.shift();
	}

	/* The console's own history, for when the manager has none to give. */
	function recordLocal(snap) {
		const L = S.local;
		const n = L.t.length;
		pushCapped(L.t, Date.now() / 1000);
		const series = (group, key, fields) => {
			if (!group[key]) group[key] = Object.fromEntries(fields.map((f) => [f, new Array(n).fill(null)]));
			return group[key];
		};
		const seen = new Set();
		for (const p of snap.ports || []) {
			const s = series(L.ports, p.name, ['rx_pps', 'tx_pps', 'drops_ps']);
			pushCapped(s.rx_pps, p.rx_pps ?? null);
			pushCapped(s.tx_pps, p.tx_pps ?? null);
			pushCapped(s.drops_ps, p.drops_ps ?? null);
			seen.add('p:' + p.name);
		}
		for (const nf of snap.nfs || []) {
			const s = series(L.nfs, nfKey(nf), ['rx_pps', 'drops_ps', 'sleeping']);
			pushCapped(s.rx_pps, nf.rx_pps ?? null);
			pushCapped(s.drops_ps, nf.drops_ps ?? null);
			pushCapped(s.sleeping, nf.sleeping ? 1 : 0);
			seen.add('n:' + nfKey(nf));
		}
		/* keep every series as long as t; gone ones get gaps */
		for (const [prefix, group] of [['p:', L.ports], ['n:', L.nfs]])
			for (const [k, s] of Object.entries(group))
				if (!seen.has(prefix + k)) for (const a of Object.values(s)) pushCapped(a, null);
	}

	let historyTimer = null;

	async function fetchHistory() {
		clearTimeout(historyTimer);
		if (S.historyServer) {
			try {
				S.history = await api('GET', 'stats/history');
			} catch (e) {
				S.history = null;
				if (e.status === 404) S.historyServer = false;
			}
		}
		updateCharts();
		/* ask the manager again now and then, in case it learns */
		historyTimer = setTimeout(() => {
			if (!S.historyServer && Math.random() < 0.05) S.historyServer = true;
			fetchHistory();
		}, S.historyServer ? HISTORY_MS : POLL_MS);
	}

	function historyDoc() {
		return S.historyServer && S.history && S.history.t ? S.history : S.local;
	}

	/* ------------------------------------------------------------------ */
	/* events (SSE)                                                          */

	let eventSource = null;

	function connectEvents() {
		if (!window.EventSource) return;
		eventSource = new EventSource(API + 'events');
		eventSource.onopen = () => {
			S.eventsState = 'live';
			updateHeader();
		};
		eventSource.onmessage = (m) => {
			let ev;
			try {
				ev = JSON.parse(m.data);
			} catch {
				return;
			}
			if (typeof ev.seq === 'number') {
				if (ev.seq <= S.eventSeq) return; /* replayed after a reconnect */
				S.eventSeq = ev.seq;
			}
			S.events.push(ev);
			if (S.events.length > 500) S.events.shift();
			if (['started', 'stopped', 'crashed', 'scaled', 'paused', 'resumed'].includes(ev.type)) poll();
			if (ev.type === 'chain' || ev.type === 'rule') loadRules();
			renderEvents();
		};
		eventSource.onerror = () => {
			if (eventSource.readyState === EventSource.CLOSED) {
				/* not offered (yet), or the manager restarted: try again later */
				S.eventsState = 'unavailable';
				eventSource = null;
				setTimeout(connectEvents, 5000);
			} else {
				S.eventsState = 'reconnecting';
			}
			updateHeader();
			renderEvents();
		};
	}

	/* ------------------------------------------------------------------ */
	/* live sections: rebuilt when their shape changes, refreshed otherwise */

	let binds = null;

	/* Registers fn(el) to run on every refresh of the section being built. */
	function live(e, fn) {
		binds.push([e, fn]);
		return e;
	}

	function section(container, sig, build) {
		if (!container) return;
		if (container._sig !== sig) {
			binds = [];
			container.replaceChildren(...[build()].flat().filter((x) => x !== null && x !== undefined && x !== false));
			container._binds = binds;
			container._sig = sig;
			binds = null;
		}
		for (const [e, fn] of container._binds) fn(e);
	}

	const text = (fn) => (e) => {
		const v = String(fn());
		if (e.textContent !== v) e.textContent = v;
	};

	function stateBadge(nf) {
		return live(el('span', { class: 'badge' }), (e) => {
			const cur = nfById(nf.id);
			const st = cur ? nfState(cur) : 'gone';
			e.textContent = st;
			e.className = `badge st-${st}`;
			e.dataset.state = st;
		});
	}

	function ringBar(nf) {
		const fill = el('span', { class: 'fill' });
		const label = el('span', { class: 'ringtext' });
		return live(el('span', { class: 'ring', title: 'receive ring occupancy' }, fill, label), (e) => {
			const cur = nfById(nf.id);
			const r = cur && cur.ring;
			const pct = ringPct(r);
			fill.style.width = `${pct}%`;
			e.classList.toggle('hot', pct >= 50);
			label.textContent = r ? `${fmtInt(r.rx_count)}/${fmtInt(r.rx_size)}` : '–';
		});
	}

	function drops(get) {
		return live(el('span', { class: 'num' }), (e) => {
			const cur = get();
			const total = cur ? cur.drops_total : undefined;
			e.textContent = fmtInt(total);
			e.classList.toggle('bad', total > 0);
			const reasons = cur && cur.drops ? Object.entries(cur.drops).filter(([, v]) => v > 0) : [];
			e.title = reasons.length ? reasons.map(([k, v]) => `${k}: ${v}`).join('\n') : 'no drops';
		});
	}

	/* ------------------------------------------------------------------ */
	/* actions                                                              */

	async function scaleTo(service, n) {
		n = Math.max(0, Math.min(64, n | 0));
		S.pendingScale[service] = { n, until: Date.now() + 8000 };
		const r = await act(`${service}: scaling to ${n} instance${n === 1 ? '' : 's'}`, 'POST',
			`services/${encodeURIComponent(service)}/scale`, { instances: n });
		if (!r) {
			delete S.pendingScale[service];
			update();
		}
		return r;
	}

	function scaleBase(service) {
		const p = S.pendingScale[service];
		if (p && Date.now() < p.until && p.n !== serviceInstances(service)) return p.n;
		delete S.pendingScale[service];
		return serviceInstances(service);
	}

	function pauseOrResume(id) {
		const nf = nfById(id);
		if (!nf) return;
		const op = nf.state === 'paused' ? 'resume' : 'pause';
		act(`${nf.name}: ${op}d`, 'POST', `nfs/${id}/${op}`);
	}

	/* A button that asks for a second click before it acts. */
	function confirmButton(label, confirmLabel, onConfirm, props = {}) {
		const b = el('button', { ...props, type: 'button' }, label);
		let armed = null;
		b.addEventListener('click', () => {
			if (armed) {
				clearTimeout(armed);
				armed = null;
				b.textContent = label;
				b.classList.remove('armed');
				onConfirm();
				return;
			}
			b.textContent = confirmLabel;
			b.classList.add('armed');
			armed = setTimeout(() => {
				armed = null;
				b.textContent = label;
				b.classList.remove('armed');
			}, 3000);
		});
		return b;
	}

	function stopNf(id) {
		const nf = nfById(id);
		act(`${nf ? nf.name : '#' + id}: stopping`, 'DELETE', `nfs/${id}`);
	}

	function nfActions(nf) {
		const pr = live(el('button', { type: 'button', class: 'small', onclick: () => pauseOrResume(nf.id),
			'data-action': 'pause' }), (e) => {
			const cur = nfById(nf.id);
			const paused = cur && cur.state === 'paused';
			e.textContent = paused ? 'resume' : 'pause';
			e.dataset.action = paused ? 'resume' : 'pause';
			e.disabled = !cur || cur.state === 'stopping';
		});
		const stop = confirmButton('stop', 'stop?', () => stopNf(nf.id), { class: 'small danger', 'data-action': 'stop' });
		return el('span', { class: 'actions' }, pr, stop);
	}

	function scaleControl(service) {
		const input = el('input', { type: 'number', min: 0, max: 64, class: 'scale-n', 'aria-label': `instances of ${service}`,
			value: serviceInstances(service) });
		input.addEventListener('input', () => (input.dataset.dirty = '1'));
		const apply = () => {
			delete input.dataset.dirty;
			scaleTo(service, parseInt(input.value, 10) || 0);
		};
		input.addEventListener('keydown', (ev) => ev.key === 'Enter' && apply());
		const box = el('span', { class: 'scale', 'data-service': service },
			el('button', { type: 'button', class: 'small', title: `one instance fewer`, 'data-action': 'scale-down',
				onclick: () => scaleTo(service, scaleBase(service) - 1) }, '−'),
			input,
			el('button', { type: 'button', class: 'small', title: `one instance more`, 'data-action': 'scale-up',
				onclick: () => scaleTo(service, scaleBase(service) + 1) }, '+'),
			el('button', { type: 'button', class: 'small primary', 'data-action': 'scale', onclick: apply }, 'scale'));
		return live(box, () => {
			if (!input.dataset.dirty && document.activeElement !== input) {
				const v = String(scaleBase(service));
				if (input.value !== v) input.value = v;
			}
		});
	}

	/* ------------------------------------------------------------------ */
	/* charts                                                               */

	const PALETTE = ['#2f7de1', '#e8711a', '#2ca05a', '#c43b7b', '#8a5cd1', '#16a3a3', '#b88a00', '#d14343'];

	/*
	 * A time chart over one history document: `lines` is a list of
	 * {label, color, dash, get(doc) -> array}. Rebuilt when the lines change.
	 */
	class Chart {
		constructor(container, height = 200) {
			this.box = container;
			this.height = height;
			this.plot = null;
			this.sig = '';
			this.ro = new ResizeObserver(() => this.plot && this.plot.setSize(this.size()));
			this.ro.observe(container);
		}

		size() {
			return { width: Math.max(200, this.box.clientWidth - 4), height: this.height };
		}

		set(doc, lines) {
			if (!window.uPlot) {
				this.box.textContent = 'charts need node_modules/uplot (run scripts/setup.sh)';
				return;
			}
			const sig = lines.map((l) => l.label).join('|');
			const data = [doc.t || [], ...lines.map((l) => l.get(doc) || [])];
			if (this.plot && sig === this.sig) {
				this.plot.setData(data);
				return;
			}
			this.destroy();
			this.sig = sig;
			this.box.replaceChildren();
			if (!lines.length) {
				this.box.append(el('p', { class: 'muted' }, 'nothing to chart yet'));
				return;
			}
			const opts = {
				...this.size(),
				cursor: { drag: { x: false, y: false } },
				scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
				axes: [
					{ stroke: '#6b7280', grid: { stroke: '#eceff3' }, space: 70,
						incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600],
						values: (u, v) => v.map((t) => fmtTime(t).slice(0, 8)) },
					{ stroke: '#6b7280', grid: { stroke: '#eceff3' }, size: 56, values: (u, v) => v.map(fmtRate) },
				],
				series: [
					{ value: (u, v) => (v == null ? '–' : fmtTime(v)) },
					...lines.map((l) => ({
						label: l.label, stroke: l.color, width: 1.5, dash: l.dash,
						fill: l.fill, points: { show: false }, spanGaps: false,
						/* with the cursor away, the legend shows the latest value */
						value: (u, v, si, idx) => fmtRate(idx == null ? lastOf(u.data[si]) : v),
					})),
				],
			};
			this.plot = new window.uPlot(opts, data, this.box);
		}

		destroy() {
			if (this.plot) this.plot.destroy();
			this.plot = null;
		}
	}

	function lastOf(a) {
		for (let i = (a || []).length - 1; i >= 0; i--) if (a[i] != null) return a[i];
		return null;
	}

	let charts = {}; /* the current view's charts, by name */

	function updateCharts() {
		const doc = historyDoc();
		if (charts.ports) {
			const names = Object.keys(doc.ports || {}).sort();
			const lines = [];
			names.forEach((p, i) => {
				const c = PALETTE[i % PALETTE.length];
				lines.push({ label: `${p} rx pps`, color: c, get: (d) => d.ports[p] && d.ports[p].rx_pps });
				lines.push({ label: `${p} tx pps`, color: c, dash: [6, 4], get: (d) => d.ports[p] && d.ports[p].tx_pps });
			});
			charts.ports.set(doc, lines);
		}
		if (charts.portDrops) {
			const names = Object.keys(doc.ports || {}).sort();
			charts.portDrops.set(doc, names.map((p, i) => ({
				label: `${p} drops/s`, color: PALETTE[i % PALETTE.length],
				get: (d) => d.ports[p] && d.ports[p].drops_ps,
			})));
		}
		if (charts.nf) {
			const nf = nfById(S.route.arg);
			const key = charts.nfKey || (nf && nfKey(nf));
			if (key) charts.nfKey = key;
			const has = key && doc.nfs && doc.nfs[key];
			charts.nf.set(doc, has ? [
				{ label: 'rx pps', color: PALETTE[0], fill: 'rgba(47,125,225,0.08)', get: (d) => d.nfs[key] && d.nfs[key].rx_pps },
				{ label: 'drops/s', color: PALETTE[7], get: (d) => d.nfs[key] && d.nfs[key].drops_ps },
			] : []);
		}
		const src = $('#history-source');
		if (src) src.textContent = doc === S.local ? 'kept by this page since it was opened' : 'from the manager';
	}

	/* ------------------------------------------------------------------ */
	/* header                                                               */

	function updateHeader() {
		const l = $('#live');
		l.className = `live ${S.pollOk ? 'ok' : 'down'}`;
		l.textContent = S.pollOk ? 'live' : 'offline';
		l.title = `statistics: ${S.pollOk ? 'polling every second' : 'unreachable'}; events: ${S.eventsState}`;
		const s = S.snap;
		$('#uptime').textContent = s ? `${s.prefix || ''} · up ${fmtUptime(s.uptime_s)}` : '';
		for (const a of document.querySelectorAll('#nav a[data-route]'))
			a.classList.toggle('active', a.dataset.route === (S.route.name === 'nf' ? 'dashboard' : S.route.name));
	}

	/* ------------------------------------------------------------------ */
	/* dashboard                                                            */

	function viewDashboard(root) {
		root.append(
			el('section', { id: 'summary', class: 'summary' }),
			el('section', { class: 'card' },
				el('h2', {}, 'Ports → chains → NFs'),
				el('div', { id: 'pipes' })),
			el('div', { class: 'grid2' },
				el('section', { class: 'card' },
					el('h2', {}, 'Ports, last minutes ', el('small', { id: 'history-source', class: 'muted' })),
					el('div', { id: 'chart-ports', class: 'chart' }),
					el('div', { id: 'chart-port-drops', class: 'chart small' })),
				el('section', { class: 'card events-side' },
					el('h2', {}, 'Events ', el('a', { href: '#/events', class: 'more' }, 'all')),
					el('ol', { id: 'events-mini', class: 'events' }))),
			el('section', { class: 'card' }, el('h2', {}, 'Services and their NFs'), el('div', { id: 'services' })),
			el('section', { class: 'card' }, el('h2', {}, 'Ports'), el('div', { id: 'ports' })));
		charts.ports = new Chart($('#chart-ports'), 220);
		charts.portDrops = new Chart($('#chart-port-drops'), 110);
		loadRules();
		renderEvents();
	}

	function updateDashboard() {
		const s = S.snap;
		if (!s) return;
		renderSummary(s);
		renderPipes(s);
		renderServices(s);
		renderPorts(s);
	}

	function renderSummary(s) {
		const sig = 'summary';
		section($('#summary'), sig, () => {
			const stat = (label, fn, cls) => el('div', { class: `stat ${cls || ''}` },
				live(el('b', {}), text(fn)), el('span', {}, label));
			const nfs = () => S.snap.nfs || [];
			return [
				stat('NFs', () => nfs().length),
				stat('running', () => nfs().filter((n) => nfState(n) === 'running').length),
				stat('asleep', () => nfs().filter((n) => nfState(n) === 'asleep').length),
				stat('paused', () => nfs().filter((n) => n.state === 'paused').length),
				stat('rx pps (ports)', () => fmtRate((S.snap.ports || []).reduce((a, p) => a + (p.rx_pps || 0), 0))),
				stat('drops (all)', () => fmtInt((S.snap.ports || []).concat(nfs()).reduce((a, x) => a + (x.drops_total || 0), 0))),
				stat('free mbufs', () => (S.snap.pool ? `${fmtInt(S.snap.pool.available)} / ${fmtInt(S.snap.pool.size)}` : '–')),
				stat('manager', () => (S.snap.manager ? (S.snap.manager.sleeping ? 'asleep' : 'awake') : '–')),
			];
		});
	}

	/* Which ports feed each chain, from the flow rules (GET /api/v1/rules). */
	function chainIngress(s) {
		const by = {};
		for (const r of S.rules || []) {
			if (!r.chain) continue;
			const cond = ['src', 'dst', 'proto', 'sport', 'dport'].filter((k) => r[k] !== undefined && r[k] !== null && r[k] !== '' && r[k] !== 'any')
				.map((k) => `${k} ${r[k]}`).join(', ');
			const port = r.in_port && r.in_port !== 'any' ? r.in_port : 'any port';
			(by[r.chain] = by[r.chain] || []).push({ port, cond, index: r.index });
		}
		if (s.default_chain) (by[s.default_chain] = by[s.default_chain] || []).push({ port: 'unmatched', cond: 'default chain' });
		return by;
	}

	function renderPipes(s) {
		const chains = s.chains || [];
		const ingress = chainIngress(s);
		const sig = JSON.stringify([chains, ingress, (s.nfs || []).map((n) => [n.id, n.service])]);
		section($('#pipes'), sig, () => {
			if (!chains.length) return el('p', { class: 'muted' }, 'No chains. Add one under ', el('a', { href: '#/chains' }, 'Chains & rules'), '.');
			return chains.map((c) => {
				const ins = ingress[c.name] || [];
				const hop = (svc) => {
					const dots = el('span', { class: 'dots' });
					const pps = el('span', { class: 'num' });
					return live(el('button', { type: 'button', class: 'node svc', title: `service ${svc}`,
						onclick: () => { const t = document.getElementById(`svc-${svc}`); if (t) t.scrollIntoView({ behavior: 'smooth' }); } },
					el('b', {}, svc), pps, dots), () => {
						const nfs = nfsOf(svc);
						pps.textContent = `${fmtRate(nfs.reduce((a, n) => a + (n.rx_pps || 0), 0))} pps`;
						dots.replaceChildren(...nfs.map((n) => el('i', { class: `dot st-${nfState(n)}`, title: `${n.name} #${n.id}: ${nfState(n)}` })));
						if (!nfs.length) dots.append(el('span', { class: 'warn' }, 'no instance'));
					});
				};
				const port = (name, extra) => el('span', { class: 'node port' }, el('b', {}, name), extra ? el('small', {}, extra) : null);
				return el('div', { class: 'pipe', 'data-chain': c.name },
					el('div', { class: 'ins' }, ins.length ? ins.map((i) => port(i.port, i.cond))
						: S.rules ? el('span', { class: 'node port muted', title: 'no flow rule uses this chain' }, el('b', {}, '—'), el('small', {}, 'no rule'))
						: el('span', { class: 'node port muted', title: 'GET /api/v1/rules is not available' }, el('b', {}, 'in'), el('small', {}, 'rules not known'))),
					el('span', { class: 'arrow' }, '→'),
					el('span', { class: 'chain-name', title: 'chain' }, c.name),
					...(c.hops || []).map((h) => [el('span', { class: 'arrow' }, '→'), hop(h)]),
					el('span', { class: 'arrow' }, '→'),
					c.out ? port(c.out, 'out') : el('span', { class: 'node port muted' }, el('b', {}, 'none'), el('small', {}, 'no output')));
			});
		});
	}

	function renderServices(s) {
		const svcs = (s.services || []).map((x) => x.name);
		for (const nf of s.nfs || []) if (!svcs.includes(nf.service)) svcs.push(nf.service);
		const hasWorkers = (s.nfs || []).some((n) => Array.isArray(n.workers));
		const sig = JSON.stringify([svcs, (s.nfs || []).map((n) => [n.id, n.service, n.name, n.instance, n.parent, n.pid]), hasWorkers]);
		section($('#services'), sig, () => {
			if (!svcs.length) return el('p', { class: 'muted' }, 'No services yet: start an NF under ', el('a', { href: '#/catalog' }, 'Start an NF'), '.');
			/* services no NF runs: one line, they cannot be scaled until one is started */
			const idle = svcs.filter((x) => !nfsOf(x).length);
			const idleLine = idle.length ? el('p', { class: 'muted idle' }, 'No NF runs ',
				idle.map((x, i) => [i ? ', ' : '', el('span', { 'data-service': x }, el('b', { class: 'mono', id: `svc-${x}` }, x),
					' ', isolationBadge(x))]),
				' — ', el('a', { href: '#/catalog' }, 'start one'), '.') : null;
			return [...svcs.filter((x) => nfsOf(x).length).map((svc) => {
				const nfs = nfsOf(svc);
				const count = live(el('span', { class: 'count' }), text(() => {
					const n = serviceInstances(svc);
					return `${n} instance${n === 1 ? '' : 's'}`;
				}));
				const rows = nfs.map((nf) => el('tr', { 'data-nf': nf.id },
					el('td', {}, el('a', { href: `#/nf/${nf.id}` }, nf.name), el('small', { class: 'muted' }, ` #${nf.id}`)),
					el('td', { class: 'num' }, nf.instance),
					el('td', {}, nf.parent !== undefined && nf.parent !== null ? `#${nf.parent}` : nf.instance > 0 ? 'child' : '—'),
					el('td', { class: 'num' }, nf.pid),
					el('td', {}, stateBadge(nf)),
					el('td', { class: 'num' }, live(el('span', { 'data-field': 'rx_pps' }), text(() => fmtRate((nfById(nf.id) || {}).rx_pps)))),
					el('td', { class: 'num' }, live(el('span', { 'data-field': 'tx_pps' }), text(() => fmtRate((nfById(nf.id) || {}).tx_pps)))),
					el('td', { class: 'num' }, live(el('span', { 'data-field': 'rx_pkts' }), text(() => fmtInt((nfById(nf.id) || {}).rx_pkts)))),
					el('td', { class: 'num' }, drops(() => nfById(nf.id))),
					el('td', {}, ringBar(nf)),
					hasWorkers ? el('td', { class: 'num' }, live(el('span'), text(() => ((nfById(nf.id) || {}).workers || []).length))) : null,
					el('td', {}, nfActions(nf))));
				return el('div', { class: 'svc-card', id: `svc-${svc}`, 'data-service': svc },
					el('div', { class: 'svc-head' }, el('h3', {}, svc), count, isolationBadge(svc), scaleControl(svc)),
					nfs.length
						? el('table', { class: 'tbl' },
							el('thead', {}, el('tr', {}, ['NF', 'inst', 'parent', 'pid', 'state', 'rx pps', 'tx pps', 'rx pkts', 'drops', 'ring', hasWorkers ? 'workers' : null, ''].map((h) => h === null ? null : el('th', {}, h)))),
							el('tbody', {}, rows))
						: el('p', { class: 'muted' }, 'no NF runs this service'));
			}), idleLine];
		});
	}

	function renderPorts(s) {
		const ports = s.ports || [];
		const sig = JSON.stringify(ports.map((p) => p.name));
		section($('#ports'), sig, () => {
			const get = (name) => (S.snap.ports || []).find((p) => p.name === name) || {};
			const cell = (name, fn) => el('td', { class: 'num' }, live(el('span'), text(() => fn(get(name)))));
			return el('table', { class: 'tbl' },
				el('thead', {}, el('tr', {}, ['port', 'rx pps', 'tx pps', 'rx', 'tx', 'rx pkts', 'tx pkts', 'errors', 'drops'].map((h) => el('th', {}, h)))),
				el('tbody', {}, ports.map((p) => el('tr', { 'data-port': p.name },
					el('td', {}, el('b', {}, p.name)),
					cell(p.name, (x) => fmtRate(x.rx_pps)),
					cell(p.name, (x) => fmtRate(x.tx_pps)),
					cell(p.name, (x) => fmtBits(x.rx_bps)),
					cell(p.name, (x) => fmtBits(x.tx_bps)),
					cell(p.name, (x) => fmtInt(x.rx_pkts)),
					cell(p.name, (x) => fmtInt(x.tx_pkts)),
					cell(p.name, (x) => fmtInt((x.rx_errors || 0) + (x.tx_errors || 0) + (x.rx_missed || 0) + (x.rx_nombuf || 0))),
					el('td', { class: 'num' }, drops(() => get(p.name)))))));
		});
	}

	/* ------------------------------------------------------------------ */
	/* one NF                                                               */

	function viewNf(root) {
		charts.nfKey = null;
		root.append(el('div', { id: 'nf-page' }));
	}

	/* A table of the scalar members of pick(nf), refreshed live. */
	function liveKv(id, pick, fmt = fmtInt) {
		const cur = nfById(id);
		const obj = (cur && pick(cur)) || {};
		const keys = Object.keys(obj).filter((k) => typeof obj[k] !== 'object');
		if (!keys.length) return el('p', { class: 'muted' }, 'none');
		return el('table', { class: 'tbl kv' }, el('tbody', {}, keys.map((k) => el('tr', { 'data-counter': k },
			el('th', {}, k),
			el('td', { class: 'num' }, live(el('span'), text(() => {
				const n = nfById(id);
				const o = n && pick(n);
				return o ? fmt(o[k]) : '–';
			})))))));
	}

	function updateNf() {
		const id = S.route.arg;
		const nf = nfById(id);
		const page = $('#nf-page');
		if (!page || !S.snap) return;
		const sig = nf ? JSON.stringify([nf.id, nf.name, Object.keys(nf), Object.keys(nf.app || {}), Object.keys(nf.drops || {}), Object.keys(nf.loop || {}), Array.isArray(nf.workers) ? nf.workers.length : -1]) : 'gone';
		const rebuilt = page._sig !== sig;
		section(page, sig, () => {
			if (!nf) return el('section', { class: 'card' }, el('h2', {}, `NF #${id}`), el('p', { class: 'muted' }, 'This NF is not running (stopped, or not yet registered). '), el('a', { href: '#/' }, '← dashboard'));
			const COUNTERS = ['rx_pkts', 'tx_pkts', 'rx_pps', 'tx_pps', 'drops_total', 'drops_ps'];
			const facts = [['service', nf.service], ['instance', nf.instance],
				['parent', nf.parent !== undefined && nf.parent !== null ? `#${nf.parent}` : '—'],
				['pid', nf.pid], ['core', nf.core === undefined || nf.core === null ? '—' : nf.core < 0 ? 'any' : nf.core], ['mode', nf.mode ?? '—']];
			return [
				el('section', { class: 'card' },
					el('div', { class: 'nf-head' },
						el('h2', {}, el('a', { href: '#/', class: 'muted' }, 'dashboard'), ' / ', nf.name, el('small', { class: 'muted' }, ` #${nf.id}`)),
						stateBadge(nf),
						el('span', { class: 'grow' }),
						nfActions(nf)),
					el('dl', { class: 'facts' }, facts.map(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))])),
					el('div', { class: 'scaleline' }, 'service ', el('b', {}, nf.service), ': ', scaleControl(nf.service))),
				el('div', { class: 'grid2' },
					el('section', { class: 'card' }, el('h2', {}, 'Receive rate and drops, last minutes ', el('small', { id: 'history-source', class: 'muted' })),
						el('div', { id: 'chart-nf', class: 'chart' })),
					el('section', { class: 'card' }, el('h2', {}, 'Counters'),
						liveKv(nf.id, (n) => Object.fromEntries(COUNTERS.filter((k) => k in n).map((k) => [k, n[k]])), (v) => (Number.isInteger(v) ? fmtInt(v) : fmtRate(v))))),
				el('div', { class: 'grid3' },
					el('section', { class: 'card' }, el('h2', {}, 'Drops by reason'), liveKv(nf.id, (n) => n.drops)),
					el('section', { class: 'card' }, el('h2', {}, 'NF counters (app)'), liveKv(nf.id, (n) => n.app)),
					el('section', { class: 'card' }, el('h2', {}, 'Ring and loop'),
						el('p', {}, 'receive ring ', ringBar(nf)),
						liveKv(nf.id, (n) => ({ ...(n.ring || {}), ...(n.loop || {}) })))),
				Array.isArray(nf.workers) ? el('section', { class: 'card' }, el('h2', {}, 'Workers'), workersTable(nf.id)) : null,
			].filter(Boolean);
		});
		if (rebuilt) {
			if (charts.nf) charts.nf.destroy();
			const c = $('#chart-nf');
			charts.nf = c ? new Chart(c, 220) : null;
			updateCharts();
		}
	}

	function workersTable(id) {
		const nf = nfById(id);
		const ws = nf.workers || [];
		const cols = [...new Set(ws.flatMap((w) => Object.keys(w).filter((k) => typeof w[k] !== 'object')))];
		return el('table', { class: 'tbl' },
			el('thead', {}, el('tr', {}, cols.map((c) => el('th', {}, c)))),
			el('tbody', {}, ws.map((w, i) => el('tr', {}, cols.map((c) => el('td', { class: 'num' },
				live(el('span'), text(() => {
					const x = ((nfById(id) || {}).workers || [])[i] || {};
					return x[c] === undefined ? '–' : typeof x[c] === 'number' && !Number.isInteger(x[c]) ? fmtRate(x[c]) : x[c];
				}))))))));
	}

	/* ------------------------------------------------------------------ */
	/* chains and rules                                                     */

	let rulesTimer = null;

	async function loadRules() {
		clearTimeout(rulesTimer);
		if (S.rulesApi) {
			try {
				const r = await api('GET', 'rules');
				S.rules = Array.isArray(r) ? r : null;
			} catch (e) {
				if (e.status === 404) S.rulesApi = false;
				S.rules = null;
			}
		}
		update();
		rulesTimer = setTimeout(() => {
			if (!S.rulesApi) S.rulesApi = true; /* try again now and then */
			loadRules();
		}, S.rulesApi ? 3000 : 15000);
	}

	function serviceList() {
		const s = S.snap || {};
		const names = new Set((s.services || []).map((x) => x.name));
		for (const c of s.chains || []) for (const h of c.hops || []) names.add(h);
		if (Array.isArray(S.catalog)) for (const c of S.catalog) names.add(c.nf);
		return [...names].sort();
	}

	function portOptions(selected, noneLabel) {
		const ports = ((S.snap && S.snap.ports) || []).map((p) => p.name);
		return [el('option', { value: '', selected: !selected }, noneLabel),
			...ports.map((p) => el('option', { value: p, selected: p === selected }, p))];
	}

	function chainOptions(selected, noneLabel) {
		const chains = ((S.snap && S.snap.chains) || []).map((c) => c.name);
		return [noneLabel !== undefined ? el('option', { value: '', selected: !selected }, noneLabel) : null,
			...chains.map((c) => el('option', { value: c, selected: c === selected }, c))];
	}

	/* An ordered list of hop inputs with remove/move buttons and an add button. */
	function hopEditor(hops, onChange) {
		const list = el('span', { class: 'hops' });
		const add = el('button', { type: 'button', class: 'small', title: 'add a hop', 'data-action': 'add-hop' }, '+ hop');
		const values = () => [...list.querySelectorAll('input')].map((i) => i.value.trim()).filter(Boolean);
		const draw = (vals) => {
			list.replaceChildren(...vals.map((v, i) => el('span', { class: 'hop' },
				i ? el('span', { class: 'arrow' }, '→') : null,
				el('input', { value: v, list: 'svc-names', size: 10, 'aria-label': `hop ${i + 1}`, oninput: onChange }),
				el('button', { type: 'button', class: 'icon', title: 'move earlier', disabled: i === 0,
					onclick: () => { const a = values(); [a[i - 1], a[i]] = [a[i], a[i - 1]]; draw(a); onChange(); } }, '‹'),
				el('button', { type: 'button', class: 'icon', title: 'remove this hop',
					onclick: () => { const a = values(); a.splice(i, 1); draw(a); onChange(); } }, '×'))));
		};
		add.addEventListener('click', () => {
			const a = [...list.querySelectorAll('input')].map((i) => i.value);
			a.push('');
			draw(a);
			const inputs = list.querySelectorAll('input');
			inputs[inputs.length - 1].focus();
			onChange();
		});
		draw(hops);
		return { node: el('span', { class: 'hop-editor' }, list, add), values };
	}

	function viewChains(root) {
		root.append(
			el('datalist', { id: 'svc-names' }),
			el('section', { class: 'card' }, el('h2', {}, 'Chains'), el('p', { class: 'muted' },
				'A chain is the list of services a packet visits, then the port it leaves by. Changes apply live.'),
			el('div', { id: 'chains' }), el('h3', {}, 'New chain'), el('div', { id: 'chain-new' })),
			el('section', { class: 'card' }, el('h2', {}, 'Flow rules'), el('p', { class: 'muted' },
				'Tried in order; the first match picks the chain. Unmatched packets take the default chain.'),
			el('div', { id: 'default-chain' }), el('div', { id: 'rules' }), el('h3', {}, 'New rule'), el('div', { id: 'rule-new' })));
		loadRules();
		loadCatalog();
	}

	function updateChains() {
		const s = S.snap;
		if (!s) return;
		const dl = $('#svc-names');
		if (dl) {
			const names = serviceList();
			if (dl._sig !== names.join()) {
				dl._sig = names.join();
				dl.replaceChildren(...names.map((n) => el('option', { value: n })));
			}
		}
		const box = $('#chains');
		const dirty = box && box.querySelector('.dirty');
		const chainNames = (s.chains || []).map((c) => c.name);
		const sig = JSON.stringify([s.chains, (s.ports || []).map((p) => p.name)]);
		if (box && (!dirty || box._sig === undefined)) section(box, sig, () => chainRows(s));
		section($('#chain-new'), JSON.stringify((s.ports || []).map((p) => p.name)), newChainForm);
		section($('#default-chain'), JSON.stringify([chainNames, s.default_chain]), defaultChainForm);
		section($('#rules'), JSON.stringify([S.rules && S.rules.map(({ hits, ...r }) => r), S.rulesApi, chainNames]), rulesTable);
		section($('#rule-new'), JSON.stringify([(s.ports || []).map((p) => p.name), chainNames]), newRuleForm);
	}

	function chainRows(s) {
		const chains = s.chains || [];
		if (!chains.length) return el('p', { class: 'muted' }, 'No chains yet.');
		return el('table', { class: 'tbl chains' },
			el('thead', {}, el('tr', {}, ['chain', 'hops', 'out', ''].map((h) => el('th', {}, h)))),
			el('tbody', {}, chains.map((c) => {
				const row = el('tr', { 'data-chain': c.name });
				const markDirty = () => row.classList.add('dirty');
				const hops = hopEditor(c.hops || [], markDirty);
				const out = el('select', { onchange: markDirty, 'aria-label': `output port of ${c.name}` }, portOptions(c.out, 'none (drop)'));
				const save = async () => {
					const r = await act(`chain ${c.name} saved`, 'PUT', `chains/${encodeURIComponent(c.name)}`, { hops: hops.values(), out: out.value || null });
					if (r) { row.classList.remove('dirty'); $('#chains')._sig = undefined; }
				};
				const revert = () => { row.classList.remove('dirty'); $('#chains')._sig = undefined; update(); };
				row.append(
					el('td', {}, el('b', {}, c.name)),
					el('td', {}, hops.node),
					el('td', {}, out),
					el('td', {}, el('span', { class: 'actions' },
						el('button', { type: 'button', class: 'small primary', onclick: save }, 'save'),
						el('button', { type: 'button', class: 'small', onclick: revert }, 'revert'),
						confirmButton('delete', 'delete?', () => act(`chain ${c.name} deleted`, 'DELETE', `chains/${encodeURIComponent(c.name)}`), { class: 'small danger' }))));
				return row;
			})));
	}

	function newChainForm() {
		const name = el('input', { placeholder: 'name', size: 12, pattern: '[A-Za-z0-9_.\\-]{1,31}', required: true, 'aria-label': 'new chain name' });
		const hops = hopEditor([''], () => {});
		const out = el('select', { 'aria-label': 'new chain output port' }, portOptions('', 'none (drop)'));
		const form = el('form', { class: 'inline-form' }, name, hops.node, el('span', {}, 'out ', out),
			el('button', { type: 'submit', class: 'primary' }, 'add chain'));
		form.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			const r = await act(`chain ${name.value} created`, 'POST', 'chains', { name: name.value.trim(), hops: hops.values(), out: out.value || null });
			if (r) form.reset();
		});
		return form;
	}

	function defaultChainForm() {
		const s = S.snap;
		const sel = el('select', { 'aria-label': 'default chain' }, chainOptions(s.default_chain || '', 'none (drop unmatched)'));
		const hits = live(el('span', { class: 'muted' }), text(() => `${fmtInt(S.snap.default_hits || 0)} unmatched packets so far`));
		return el('div', { class: 'inline-form' }, el('span', {}, 'default chain '), sel,
			el('button', { type: 'button', class: 'small', onclick: () => act('default chain set', 'PUT', 'default_chain', { chain: sel.value || null }) }, 'set'),
			hits);
	}

	function rulesTable() {
		const s = S.snap;
		const cols = ['in_port', 'src', 'dst', 'proto', 'sport', 'dport', 'chain'];
		if (!S.rules) {
			/* the snapshot has only index and hits */
			return el('div', {},
				el('p', { class: 'warn' }, 'GET /api/v1/rules is not available from this manager: showing hits only.'),
				el('table', { class: 'tbl' }, el('thead', {}, el('tr', {}, el('th', {}, '#'), el('th', {}, 'hits'))),
					el('tbody', {}, (s.rules || []).map((r) => el('tr', {}, el('td', {}, r.index), el('td', { class: 'num' }, fmtInt(r.hits)))))));
		}
		if (!S.rules.length) return el('p', { class: 'muted' }, 'No rules: every packet takes the default chain.');
		return el('table', { class: 'tbl rules' },
			el('thead', {}, el('tr', {}, ['#', ...cols, 'hits', ''].map((h) => el('th', {}, h)))),
			el('tbody', {}, S.rules.map((r, i) => {
				const idx = r.index ?? i;
				return el('tr', { 'data-rule': idx },
					el('td', { class: 'num' }, idx),
					cols.map((k) => el('td', {}, r[k] === undefined || r[k] === null || r[k] === 'any' ? el('span', { class: 'muted' }, 'any') : String(r[k]))),
					el('td', { class: 'num' }, live(el('span'), text(() => {
						const now = (S.snap.rules || []).find((x) => x.index === idx);
						return fmtInt(now ? now.hits : r.hits);
					}))),
					el('td', {}, confirmButton('delete', 'delete?', () => act(`rule ${idx} deleted`, 'DELETE', `rules/${idx}`).then(loadRules), { class: 'small danger' })));
			})));
	}

	function newRuleForm() {
		const f = {
			in_port: el('select', { 'aria-label': 'rule in_port' }, portOptions('', 'any port')),
			src: el('input', { placeholder: 'src prefix', size: 14 }),
			dst: el('input', { placeholder: 'dst prefix', size: 14 }),
			proto: el('select', { 'aria-label': 'rule proto' }, ['', 'tcp', 'udp', 'icmp'].map((p) => el('option', { value: p }, p || 'any proto'))),
			sport: el('input', { placeholder: 'sport', size: 8 }),
			dport: el('input', { placeholder: 'dport', size: 8 }),
			chain: el('select', { 'aria-label': 'rule chain', required: true }, chainOptions('')),
			index: el('input', { type: 'number', min: 0, placeholder: 'at', title: 'insert at this position (default: at the end)', 'aria-label': 'insert at index' }),
		};
		const form = el('form', { class: 'inline-form' }, Object.values(f), el('button', { type: 'submit', class: 'primary' }, 'add rule'));
		form.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			const rule = {};
			for (const [k, e] of Object.entries(f)) {
				const v = e.value.trim();
				if (v === '') continue;
				rule[k] = k === 'index' ? parseInt(v, 10) : v;
			}
			const r = await act('rule added', 'POST', 'rules', rule);
			if (r) {
				form.reset();
				loadRules();
			}
		});
		return form;
	}

	/* ------------------------------------------------------------------ */
	/* catalog: start an NF                                                 */

	async function loadCatalog() {
		try {
			S.catalog = await api('GET', 'catalog');
		} catch (e) {
			S.catalog = { error: e.message };
		}
		update();
	}

	/* "a 'b c' d" -> ["a", "b c", "d"] */
	function splitArgs(s) {
		const out = [];
		const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
		let m;
		while ((m = re.exec(s))) out.push(m[1] ?? m[2] ?? m[3]);
		return out;
	}

	function viewCatalog(root) {
		root.append(el('section', { class: 'card' }, el('h2', {}, 'Start an NF'), el('div', { id: 'catalog' })));
		loadCatalog();
	}

	function updateCatalog() {
		section($('#catalog'), JSON.stringify(S.catalog), () => {
			const cat = S.catalog;
			if (!cat) return el('p', { class: 'muted' }, 'loading the catalog…');
			if (!Array.isArray(cat)) return el('p', { class: 'warn' }, `GET /api/v1/catalog: ${cat.error}`);
			if (!cat.length) return el('p', { class: 'muted' }, 'The manager knows no NF programs.');
			const nf = el('select', { id: 'start-nf' }, cat.map((c) => el('option', { value: c.nf }, c.nf)));
			const service = el('input', { id: 'start-service', placeholder: 'the NF\'s name', size: 16 });
			const name = el('input', { id: 'start-name', placeholder: 'the service', size: 16 });
			const args = el('input', { id: 'start-args', placeholder: 'e.g. --to-port p1', size: 32 });
			const usage = el('pre', { class: 'usage' });
			const showUsage = () => {
				const c = cat.find((x) => x.nf === nf.value);
				usage.textContent = c ? [c.path, c.usage].filter(Boolean).join('\n') : '';
			};
			nf.addEventListener('change', showUsage);
			showUsage();
			const field = (label, input) => el('label', { class: 'field' }, el('span', {}, label), input);
			const form = el('form', { class: 'inline-form start' },
				field('program', nf), field('service', service), field('name', name), field('arguments', args),
				el('button', { type: 'submit', class: 'primary' }, 'start'));
			form.addEventListener('submit', async (ev) => {
				ev.preventDefault();
				const body = { nf: nf.value };
				if (service.value.trim()) body.service = service.value.trim();
				if (name.value.trim()) body.name = name.value.trim();
				const a = splitArgs(args.value);
				if (a.length) body.args = a;
				await act((r) => `${nf.value} started${r.pid ? ` as pid ${r.pid}` : ''}; it shows on the dashboard once attached`,
					'POST', 'nfs', body);
			});
			const pick = (c) => {
				nf.value = c.nf;
				showUsage();
				service.focus();
			};
			return [
				form, usage,
				el('h3', {}, 'Programs the manager can start'),
				el('table', { class: 'tbl' },
					el('thead', {}, el('tr', {}, ['NF', 'program', 'usage', ''].map((h) => el('th', {}, h)))),
					el('tbody', {}, cat.map((c) => el('tr', {},
						el('td', {}, el('b', {}, c.nf)),
						el('td', { class: 'mono' }, c.path || ''),
						el('td', { class: 'mono wrap' }, c.usage || ''),
						el('td', {}, el('button', { type: 'button', class: 'small', onclick: () => pick(c) }, 'use')))))),
			];
		});
	}

	/* ------------------------------------------------------------------ */
	/* events                                                               */

	function eventRow(ev) {
		const nf = ev.nf && ev.nf_id !== undefined && ev.nf_id !== null && nfById(ev.nf_id) && nfById(ev.nf_id).name === ev.nf
			? el('a', { href: `#/nf/${ev.nf_id}` }, ev.nf) : ev.nf;
		const rest = [ev.service && ev.service !== ev.nf ? `(${ev.service})` : null, ev.pid ? `pid ${ev.pid}` : null].filter(Boolean).join(' ');
		return el('li', { class: `ev ev-${ev.type}` },
			el('time', {}, fmtTime(ev.time)),
			el('span', { class: `badge ev-${ev.type}` }, ev.type),
			el('span', { class: 'who' }, nf || '', nf && rest ? ' ' : '', rest),
			el('span', { class: 'detail' }, typeof ev.detail === 'string' ? ev.detail : ev.detail ? JSON.stringify(ev.detail) : ''));
	}

	function renderEvents() {
		const state = S.eventsState === 'unavailable' ? 'The event stream (GET /api/v1/events) is not available yet.' : 'No events yet.';
		const mini = $('#events-mini');
		if (mini) {
			const last = S.events.slice(-14).reverse();
			mini.replaceChildren(...(last.length ? last.map(eventRow) : [el('li', { class: 'muted' }, state)]));
		}
		const full = $('#events-full');
		if (full) {
			const type = ($('#events-type') || {}).value || '';
			const list = S.events.filter((e) => !type || e.type === type).slice().reverse();
			full.replaceChildren(...(list.length ? list.map(eventRow) : [el('li', { class: 'muted' }, state)]));
		}
	}

	function viewEvents(root) {
		const types = new Set(['started', 'stopped', 'crashed', 'scaled', 'paused', 'resumed', 'chain', 'rule']);
		for (const e of S.events) types.add(e.type);
		root.append(el('section', { class: 'card' },
			el('div', { class: 'nf-head' }, el('h2', {}, 'Events'), el('span', { class: 'grow' }),
				el('select', { id: 'events-type', onchange: renderEvents, 'aria-label': 'event type' },
					el('option', { value: '' }, 'all types'), [...types].sort().map((t) => el('option', { value: t }, t)))),
			el('ol', { id: 'events-full', class: 'events' })));
		renderEvents();
	}

	/* ------------------------------------------------------------------ */
	/* routing                                                               */

	const VIEWS = {
		dashboard: { mount: viewDashboard, update: updateDashboard },
		nf: { mount: viewNf, update: updateNf },
		chains: { mount: viewChains, update: updateChains },
		catalog: { mount: viewCatalog, update: updateCatalog },
		events: { mount: viewEvents, update: () => {} },
	};

	function parseRoute() {
		const h = location.hash.replace(/^#\/?/, '');
		const [name, arg] = h.split('/');
		if (name === 'nf' && arg !== undefined) return { name: 'nf', arg: decodeURIComponent(arg) };
		if (VIEWS[name]) return { name, arg: null };
		return { name: 'dashboard', arg: null };
	}

	function mount() {
		for (const c of Object.values(charts)) if (c && c.destroy) c.destroy();
		charts = {};
		S.route = parseRoute();
		const root = $('#view');
		root.replaceChildren();
		root.dataset.view = S.route.name;
		VIEWS[S.route.name].mount(root, S.route.arg);
		updateHeader();
		update();
		updateCharts();
	}

	function update() {
		try {
			VIEWS[S.route.name].update();
		} catch (e) {
			console.error(e);
		}
	}

	/* ------------------------------------------------------------------ */

	takeTokenFromAddress();
	setupToken();
	window.addEventListener('hashchange', () => {
		takeTokenFromAddress();
		mount();
	});
	mount();
	poll();
	fetchHistory();
	connectEvents();
})();
