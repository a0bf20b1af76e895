/* luna-tasks console (/2/ui): the task list, a task's page, the ROC curve and
 * the cluster sizes, drawn in SVG here from the JSON of the public API. Plain
 * browser JavaScript, no library, nothing loaded from elsewhere. Every request
 * carries the account of the account field (account_id) when one is given. */
"use strict";
(function () {
	const TYPES = {1: "linker", 2: "clustering", 3: "reporter", 4: "gc", 5: "additional_extract",
		6: "cross_match", 7: "roc", 8: "exporter", 9: "estimator"};
	const ZIP_TYPES = new Set([3, 8]);
	const STATUSES = {0: "pending", 1: "in progress", 2: "cancelled", 3: "failed", 4: "collecting results",
		5: "done"};
	const UNFINISHED = new Set([0, 1, 4]);
	const POLL_MIN = 2000, POLL_MAX = 30000;   // refresh of unfinished tasks, ms (back-off between)
	const TREE_CHUNK = 200;                     // entries of a JSON list shown per click
	const SVG_NS = "http://www.w3.org/2000/svg";

	let account = localStorage.getItem("luna-account") || "";
	let view = 0;                               // bumped by each page shown: late answers are dropped
	let note = "";                              // what the next page shown says first (after a delete)
	const poll = {timer: null, delay: POLL_MIN};

	// ---------------------------------------------------------------- DOM helpers

	function fill(node, attrs, children) {
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false) continue;
			if (k === "text") node.textContent = v;
			else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
			else node.setAttribute(k, v === true ? "" : String(v));
		}
		for (const c of children) if (c !== null && c !== undefined) node.append(c);
		return node;
	}
	const el = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);
	const svg = (tag, attrs, ...children) => fill(document.createElementNS(SVG_NS, tag), attrs, children);
	const $ = (sel) => document.querySelector(sel);

	function say(text, isError) {
		const s = $("#status");
		s.textContent = text || "";
		s.className = isError ? "status error" : "status";
	}

	const fmtTime = (t) => (t ? t.replace("T", " ").replace(/\.\d+/, "") : "—");
	const typeName = (id) => TYPES[id] || "type " + id;
	const statusName = (s) => STATUSES[s] || "status " + s;

	// ---------------------------------------------------------------- the API

	function apiUrl(path, params) {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(params || {}))
			if (v !== "" && v !== null && v !== undefined) q.set(k, v);
		if (account) q.set("account_id", account);
		const s = q.toString();
		return path + (s ? "?" + s : "");
	}

	async function api(method, path, params) {
		const r = await fetch(apiUrl(path, params), {method, headers: {Accept: "application/json"}});
		const text = await r.text();
		let body = null;
		if (text) {
			try { body = JSON.parse(text); } catch (e) { body = text; }
		}
		if (!r.ok) {
			const e = new Error(body && body.error_code !== undefined
				? `${body.error_code}: ${body.desc}. ${body.detail}` : `HTTP ${r.status}`);
			e.status = r.status;
			throw e;
		}
		return body;
	}

	// ---------------------------------------------------------------- polling with back-off

	function stopPolling() {
		clearTimeout(poll.timer);
		poll.timer = null;
		poll.delay = POLL_MIN;
	}

	/* Next refresh: soon after a change, later and later while nothing changes
	 * (or the page is hidden), later still after a failed request. */
	function schedule(refresh, outcome) {
		if (outcome === "failed" || document.hidden) poll.delay = Math.min(poll.delay * 2, POLL_MAX * 2);
		else if (outcome === "changed") poll.delay = POLL_MIN;
		else poll.delay = Math.min(Math.round(poll.delay * 1.5), POLL_MAX);
		poll.timer = setTimeout(refresh, poll.delay);
	}

	// ---------------------------------------------------------------- shared pieces

	function progressPercent(t) {
		const all = t.count_task_parts_all || 0, done = t.count_task_parts_done || 0;
		if (t.task_status === 5) return 100;
		return all ? Math.min(100, Math.round((100 * done) / all)) : 0;
	}

	function progressBar(t) {
		const pct = progressPercent(t);
		const bar = el("div", {class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
			"aria-valuenow": pct, "aria-label": `progress of task ${t.task_id}`,
			title: `${t.count_task_parts_done || 0} of ${t.count_task_parts_all || 0} parts done`},
		el("div", {class: "fill"}),
		el("span", {text: `${t.count_task_parts_done || 0}/${t.count_task_parts_all || 0}`}));
		bar.firstChild.style.width = pct + "%";
		return bar;
	}

	function statusBadge(s) {
		return el("span", {class: "badge s" + s, text: statusName(s)});
	}

	function table(head, rows) {
		return el("div", {class: "scroll"}, el("table", {},
			el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {scope: "col", text: h})))),
			el("tbody", {}, ...rows)));
	}

	const td = (...children) => el("td", {}, ...children);

	// ---------------------------------------------------------------- the task list

	function toIso(local) {
		if (!local) return "";
		const d = new Date(local);
		return isNaN(d) ? "" : d.toISOString();
	}

	function select(name, label, options, value) {
		const s = el("select", {id: "f-" + name, name},
			el("option", {value: "", text: "any"}),
			...Object.entries(options).map(([v, t]) => el("option", {value: v, text: t, selected: v === value})));
		return el("label", {for: "f-" + name}, label + " ", s);
	}

	function filterForm(q) {
		const input = (name, label, type) =>
			el("label", {for: "f-" + name}, label + " ",
				el("input", {id: "f-" + name, name, type, value: q.get(name) || ""}));
		const form = el("form", {class: "filters", id: "filters"},
			select("type", "Type", TYPES, q.get("type") || ""),
			select("status", "Status", STATUSES, q.get("status") || ""),
			input("from", "Created from", "datetime-local"),
			input("to", "Created before", "datetime-local"),
			select("page_size", "Per page", {10: "10", 20: "20", 50: "50", 100: "100"}, q.get("page_size") || "20"),
			el("button", {type: "submit", text: "Show"}));
		form.addEventListener("submit", (ev) => {
			ev.preventDefault();
			const n = new URLSearchParams();
			for (const [k, v] of new FormData(form)) if (v) n.set(k, v);
			location.hash = "#/?" + n.toString();
		});
		return form;
	}

	function listParams(q) {
		return {task_type: q.get("type"), task_status: q.get("status"),
			create_time__gte: toIso(q.get("from")), create_time__lt: toIso(q.get("to"))};
	}

	function taskRow(t) {
		return el("tr", {"data-task-id": t.task_id},
			td(el("a", {href: "#/tasks/" + t.task_id, text: String(t.task_id)})),
			td(typeName(t.task_type)),
			td(statusBadge(t.task_status)),
			td(progressBar(t)),
			td(fmtTime(t.create_time)),
			td(fmtTime(t.end_time)),
			el("td", {class: "account-cell", text: t.account_id || ""}),
			el("td", {class: "desc", text: t.description || ""}));
	}

	function pager(q, page, pages) {
		const link = (p, text) => {
			const n = new URLSearchParams(q);
			n.set("page", p);
			return el("a", {href: "#/?" + n.toString(), text});
		};
		return el("nav", {class: "pager", "aria-label": "pages"},
			page > 1 ? link(page - 1, "← previous") : null,
			el("span", {text: ` page ${page} of ${pages} `}),
			page < pages ? link(page + 1, "next →") : null);
	}

	const rowState = (t) => `${t.task_id}:${t.task_status}:${t.count_task_parts_done}:${t.count_task_parts_all}`;

	async function loadList(q, v, previous) {
		const page = Math.max(1, parseInt(q.get("page") || "1", 10) || 1);
		const size = parseInt(q.get("page_size") || "20", 10) || 20;
		let list, count;
		try {
			[list, count] = await Promise.all([
				api("GET", "/2/tasks", {...listParams(q), page, page_size: size}),
				api("GET", "/2/tasks/count", listParams(q))]);
		} catch (e) {
			if (v !== view) return;
			say(e.message, true);
			if (previous) schedule(() => loadList(q, v, previous), "failed");
			return;
		}
		if (v !== view) return;
		const state = list.tasks.map(rowState).join(" ");
		const box = $("#list");
		if (state !== previous) {
			const pages = Math.max(1, Math.ceil(count.count / size));
			box.replaceChildren(
				el("p", {class: "count", text: `${count.count} task${count.count === 1 ? "" : "s"}`}),
				list.tasks.length ? table(["id", "type", "status", "progress", "created", "ended", "account",
					"description"], list.tasks.map(taskRow)) : el("p", {text: "No task matches."}),
				pager(q, page, pages));
		}
		if ($("#status").classList.contains("error")) say("");
		if (list.tasks.some((t) => UNFINISHED.has(t.task_status)))
			schedule(() => loadList(q, v, state), state !== previous ? "changed" : "same");
	}

	function showList(q) {
		const v = ++view;
		$("#main").replaceChildren(el("h2", {text: "Tasks"}), filterForm(q), el("div", {id: "list"}));
		document.title = "Tasks · luna-tasks console";
		loadList(q, v);
	}

	// ---------------------------------------------------------------- JSON, collapsible

	function jsonScalar(value) {
		const kind = value === null ? "null" : typeof value;
		return el("span", {class: "j-" + kind, text: JSON.stringify(value)});
	}

	/* An object or list as <details>: its entries are built when first opened,
	 * TREE_CHUNK at a time, so a result of 20,000 points costs nothing until read. */
	function jsonTree(value, name, open) {
		if (value === null || typeof value !== "object") return jsonScalar(value);
		const entries = Array.isArray(value) ? value.map((x, i) => [i, x]) : Object.entries(value);
		const label = Array.isArray(value) ? `[ ${entries.length} items ]` : `{ ${entries.length} keys }`;
		const d = el("details", {class: "json"},
			el("summary", {}, name !== undefined ? el("span", {class: "j-key", text: name + ": "}) : null, label));
		const list = el("ul");
		let shown = 0;
		const more = el("button", {type: "button", class: "more"});
		const showMore = () => {
			const end = Math.min(entries.length, shown + TREE_CHUNK);
			for (; shown < end; shown++) {
				const [k, x] = entries[shown];
				list.append(x !== null && typeof x === "object" ? el("li", {}, jsonTree(x, k, false))
					: el("li", {}, el("span", {class: "j-key", text: k + ": "}), jsonScalar(x)));
			}
			more.textContent = `show ${Math.min(TREE_CHUNK, entries.length - shown)} more of ${entries.length - shown}`;
			more.hidden = shown >= entries.length;
		};
		more.addEventListener("click", showMore);
		d.addEventListener("toggle", () => {
			if (d.open && !shown && entries.length) showMore();
		});
		d.append(list, more);
		more.hidden = true;
		if (open) d.open = true;
		return d;
	}

	// ---------------------------------------------------------------- pictures

	const PLOT = {w: 640, h: 480, x0: 70, y0: 30, pw: 540, ph: 380};

	function axisText(x, y, text, anchor) {
		return svg("text", {x, y, "text-anchor": anchor || "middle", text});
	}

	/* The ROC curve: FPR (linear, or log10 from the decade of the smallest
	 * positive FPR) against TPR; one polyline point per result point. */
	function rocSvg(res, logScale) {
		const pts = res.roc || [];
		const eer = res.type_I_and_II_error_rates_equal_point;
		const keys = res.key_points || [];
		const positive = pts.concat(keys).map((p) => p.FPR).filter((f) => f > 0);
		const smallest = positive.length ? positive.reduce((a, b) => Math.min(a, b)) : 1e-6;
		const lo = Math.min(0.1, Math.pow(10, Math.floor(Math.log10(smallest))));   // at least one decade
		const decades = -Math.log10(lo);
		const fx = (f) => logScale ? (Math.log10(Math.max(f, lo)) - Math.log10(lo)) / decades : f;
		const X = (f) => PLOT.x0 + fx(f) * PLOT.pw;
		const Y = (t) => PLOT.y0 + (1 - t) * PLOT.ph;
		const root = svg("svg", {viewBox: `0 0 ${PLOT.w} ${PLOT.h}`, class: "chart", role: "img",
			"aria-label": `ROC curve of ${pts.length} points, AUC ${res.auc}`});
		const xt = logScale ? Array.from({length: Math.round(decades) + 1}, (_, i) => lo * Math.pow(10, i))
			: [0, 0.2, 0.4, 0.6, 0.8, 1];
		for (const f of xt) {
			root.append(svg("line", {class: "grid", x1: X(f), x2: X(f), y1: PLOT.y0, y2: PLOT.y0 + PLOT.ph}),
				axisText(X(f), PLOT.y0 + PLOT.ph + 18, logScale ? f.toExponential(0) : f.toFixed(1)));
		}
		for (const t of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
			root.append(svg("line", {class: "grid", x1: PLOT.x0, x2: PLOT.x0 + PLOT.pw, y1: Y(t), y2: Y(t)}),
				axisText(PLOT.x0 - 8, Y(t) + 4, t.toFixed(1), "end"));
		}
		root.append(svg("rect", {class: "frame", x: PLOT.x0, y: PLOT.y0, width: PLOT.pw, height: PLOT.ph}),
			axisText(PLOT.x0 + PLOT.pw / 2, PLOT.y0 + PLOT.ph + 40,
				"FPR (false positive rate)" + (logScale ? ", log scale" : "")),
			svg("text", {transform: `translate(18 ${PLOT.y0 + PLOT.ph / 2}) rotate(-90)`, "text-anchor": "middle",
				text: "TPR (true positive rate)"}));
		if (!logScale)
			root.append(svg("line", {class: "chance", x1: X(0), y1: Y(0), x2: X(1), y2: Y(1)}));
		root.append(svg("polyline", {class: "roc-curve",
			points: pts.map((p) => X(p.FPR).toFixed(2) + "," + Y(p.TPR).toFixed(2)).join(" ")}));
		const marker = (p, cls, r) => svg("circle", {class: cls, cx: X(p.FPR), cy: Y(p.TPR), r},
			svg("title", {text: `FPR ${p.FPR}, TPR ${p.TPR}, similarity ${p.similarity}`}));
		for (const k of keys) root.append(marker(k, "key-point", 4));
		if (eer) {
			root.append(marker(eer, "eer", 6),
				svg("text", {class: "eer-label", x: X(eer.FPR) + 10, y: Y(eer.TPR) + 18,
					text: "EER " + eer.FPR.toFixed(4)}));
		}
		return root;
	}

	function rocView(res) {
		const box = el("div", {class: "chart-box"});
		const toggle = el("input", {type: "checkbox", id: "roc-log"});
		const draw = () => box.replaceChildren(rocSvg(res, toggle.checked));
		toggle.addEventListener("change", draw);
		draw();
		const hits = res.hit_top_probability || {};
		const eer = res.type_I_and_II_error_rates_equal_point;
		const num = (x) => (x === null || x === undefined ? "—" : Number(x).toFixed(6));
		return el("section", {class: "roc", "aria-labelledby": "roc-h"},
			el("h3", {id: "roc-h", text: "ROC curve"}),
			el("label", {for: "roc-log", class: "check"}, toggle, " log-scale FPR"),
			box,
			el("dl", {class: "facts"},
				el("dt", {text: "AUC"}), el("dd", {id: "roc-auc", text: num(res.auc)}),
				el("dt", {text: "equal error rate"}),
				el("dd", {text: eer ? `FPR ${num(eer.FPR)} · TPR ${num(eer.TPR)} · similarity ${num(eer.similarity)}`
					: "—"}),
				el("dt", {text: "points"}), el("dd", {text: String((res.roc || []).length)})),
			el("h4", {text: "Hit probability in the top N"}),
			table(["top-1", "top-2", "top-3", "top-4", "top-5"],
				[el("tr", {}, ...[1, 2, 3, 4, 5].map((n) => td(num(hits["top-" + n]))))]),
			el("h4", {text: "Key points"}),
			table(["FPR", "TPR", "similarity"],
				(res.key_points || []).map((p) => el("tr", {}, td(num(p.FPR)), td(num(p.TPR)),
					td(num(p.similarity))))));
	}

	/* Cluster sizes: one bar per size, or per power-of-two range when there
	 * are more than 30 different sizes. */
	function histogramBins(sizes) {
		const distinct = [...new Set(sizes)].sort((a, b) => a - b);
		if (distinct.length <= 30)
			return distinct.map((s) => ({label: String(s), count: sizes.filter((x) => x === s).length}));
		const bins = [];
		for (let lo = 1; lo <= distinct[distinct.length - 1]; lo *= 2) {
			const hi = lo * 2 - 1;
			bins.push({label: lo === hi ? String(lo) : `${lo}–${hi}`,
				count: sizes.filter((x) => x >= lo && x <= hi).length});
		}
		return bins;
	}

	function histogramSvg(bins) {
		const max = Math.max(1, ...bins.map((b) => b.count));
		const bw = PLOT.pw / Math.max(1, bins.length);
		const root = svg("svg", {viewBox: `0 0 ${PLOT.w} ${PLOT.h}`, class: "chart", role: "img",
			"aria-label": "number of clusters by cluster size"});
		root.append(svg("rect", {class: "frame", x: PLOT.x0, y: PLOT.y0, width: PLOT.pw, height: PLOT.ph}));
		for (const f of [0, 0.5, 1]) {
			const y = PLOT.y0 + (1 - f) * PLOT.ph;
			root.append(axisText(PLOT.x0 - 8, y + 4, String(Math.round(f * max)), "end"));
		}
		bins.forEach((b, i) => {
			const h = (b.count / max) * PLOT.ph, x = PLOT.x0 + i * bw;
			root.append(svg("rect", {class: "bar", x: x + bw * 0.1, y: PLOT.y0 + PLOT.ph - h, width: bw * 0.8, height: h},
				svg("title", {text: `${b.count} cluster(s) of size ${b.label}`})),
			axisText(x + bw / 2, PLOT.y0 + PLOT.ph + 18, b.label));
		});
		root.append(axisText(PLOT.x0 + PLOT.pw / 2, PLOT.y0 + PLOT.ph + 40, "cluster size (objects)"),
			svg("text", {transform: `translate(18 ${PLOT.y0 + PLOT.ph / 2}) rotate(-90)`, "text-anchor": "middle",
				text: "clusters"}));
		return root;
	}

	function clusteringView(res) {
		const sizes = (res.clusters || []).map((c) => c.length);
		return el("section", {class: "clusters", "aria-labelledby": "cl-h"},
			el("h3", {id: "cl-h", text: "Cluster sizes"}),
			el("div", {class: "chart-box"}, histogramSvg(histogramBins(sizes))),
			el("dl", {class: "facts"},
				el("dt", {text: "objects"}), el("dd", {text: String(res.total_objects)}),
				el("dt", {text: "clusters"}), el("dd", {text: String(res.total_clusters)}),
				el("dt", {text: "largest"}), el("dd", {text: String(sizes.length ? Math.max(...sizes) : 0)})));
	}

	// ---------------------------------------------------------------- a task's page

	function confirmAction(text, yes) {
		return new Promise((resolve) => {
			const d = $("#confirm");
			$("#confirm-text").textContent = text;
			$("#confirm-yes").textContent = yes;
			d.returnValue = "";
			d.addEventListener("close", () => resolve(d.returnValue === "ok"), {once: true});
			d.showModal();
			$("#confirm-no").focus();
		});
	}

	async function cancelTask(id) {
		if (!(await confirmAction(`Cancel task ${id}? Its unfinished parts stop.`, "Cancel the task"))) return;
		try {
			await api("PATCH", "/2/tasks/" + id);
			say(`Task ${id} cancelled.`);
		} catch (e) {
			say(e.message, true);
		}
		showTask(id);
	}

	async function deleteTask(id) {
		if (!(await confirmAction(`Delete task ${id} with its result and errors? This cannot be undone.`,
			"Delete the task"))) return;
		try {
			await api("DELETE", "/2/tasks/" + id);
			note = `Task ${id} deleted.`;
			location.hash = "#/";
		} catch (e) {
			say(e.message, true);
		}
	}

	function summary(t) {
		const row = (k, v) => [el("dt", {text: k}), el("dd", {}, v)];
		return el("dl", {class: "facts", id: "task-facts"},
			...row("type", typeName(t.task_type)), ...row("status", statusBadge(t.task_status)),
			...row("progress", progressBar(t)), ...row("account", t.account_id || "—"),
			...row("description", t.description || "—"), ...row("created", fmtTime(t.create_time)),
			...row("last update", fmtTime(t.last_update_time)), ...row("ended", fmtTime(t.end_time)),
			...row("result id", t.result_id || "—"));
	}

	function subtasksTable(list) {
		if (!list.length) return el("p", {text: "No subtasks yet."});
		return table(["id", "status", "created", "ended", "result id"], list.map((s) => el("tr", {},
			td(String(s.subtask_id)), td(STATUSES[s.subtask_status === 4 ? 5 : s.subtask_status] || String(s.subtask_status)),
			td(fmtTime(s.create_time)), td(fmtTime(s.end_time)), td(s.result_id || "—"))));
	}

	function errorsTable(list, count) {
		if (!list.length) return el("p", {text: "No errors."});
		return el("div", {},
			el("p", {class: "count", text: `${count} error${count === 1 ? "" : "s"}` +
				(count > list.length ? `, the first ${list.length} shown` : "")}),
			table(["code", "description", "detail", "subtask", "time"], list.map((e) => el("tr", {class: "error-row"},
				td(el("a", {href: e.link, rel: "noreferrer", text: String(e.error_code)})),
				td(e.description), el("td", {class: "detail", text: e.detail}),
				td(e.subtask_id === null ? "—" : String(e.subtask_id)), td(fmtTime(e.error_time))))));
	}

	async function resultView(t) {
		const why = {0: "is waiting to be planned", 1: "is still running", 2: "was cancelled", 3: "failed",
			4: "is collecting its results"};
		if (t.task_status !== 5) return el("p", {text: `No result: the task ${why[t.task_status] || "has none"}.`});
		if (ZIP_TYPES.has(t.task_type))
			return el("p", {}, el("a", {href: apiUrl(`/2/tasks/${t.task_id}/result`), download: `task_${t.task_id}.zip`,
				class: "download", text: `Download the result (task_${t.task_id}.zip)`}));
		const doc = await api("GET", `/2/tasks/${t.task_id}/result`);
		const res = (doc && doc.result) || {};
		return el("div", {},
			t.task_type === 7 && res.roc ? rocView(res) : null,
			t.task_type === 2 && res.clusters ? clusteringView(res) : null,
			el("h3", {text: "Result document"}), jsonTree(doc, undefined, true));
	}

	const taskState = (t, subs, errs) =>
		`${t.task_status}:${t.count_task_parts_done}:${t.count_task_parts_all}:${subs.length}:${errs.count}`;

	async function loadTaskParts(id) {
		const [t, subs, errs, errCount] = await Promise.all([
			api("GET", "/2/tasks/" + id), api("GET", `/2/tasks/${id}/subtasks`),
			api("GET", `/2/tasks/${id}/errors`, {page_size: 100}), api("GET", `/2/tasks/${id}/errors/count`)]);
		return {t, subs: subs.subtasks, errs: {list: errs.errors, count: errCount.count}};
	}

	function renderTask(p, v) {
		const {t, subs, errs} = p;
		const unfinished = UNFINISHED.has(t.task_status);
		document.title = `Task ${t.task_id} · luna-tasks console`;
		const result = el("section", {id: "result", "aria-labelledby": "result-h"},
			el("h2", {id: "result-h", text: "Result"}), el("p", {text: "Loading…"}));
		$("#main").replaceChildren(
			el("p", {}, el("a", {href: "#/", text: "← all tasks"})),
			el("h2", {id: "task-h", text: `Task ${t.task_id} · ${typeName(t.task_type)} · ${statusName(t.task_status)}`}),
			el("div", {class: "actions"},
				el("button", {type: "button", id: "cancel", disabled: !unfinished, onclick: () => cancelTask(t.task_id),
					text: "Cancel…"}),
				el("button", {type: "button", id: "delete", class: "danger", onclick: () => deleteTask(t.task_id),
					text: "Delete…"})),
			summary(t),
			result,
			el("section", {"aria-labelledby": "errors-h"}, el("h2", {id: "errors-h", text: "Errors"}),
				errorsTable(errs.list, errs.count)),
			el("section", {"aria-labelledby": "subtasks-h"}, el("h2", {id: "subtasks-h", text: "Subtasks"}),
				subtasksTable(subs)),
			el("section", {"aria-labelledby": "content-h"}, el("h2", {id: "content-h", text: "Content"}),
				jsonTree(t.content, undefined, true)));
		resultView(t).then((node) => {
			if (v === view) result.replaceChildren(result.firstChild, node);
		}, (e) => {
			if (v === view) result.replaceChildren(result.firstChild, el("p", {class: "error", text: e.message}));
		});
	}

	async function refreshTask(id, v, previous) {
		let p;
		try {
			p = await loadTaskParts(id);
		} catch (e) {
			if (v !== view) return;
			say(e.message, true);
			if (previous) schedule(() => refreshTask(id, v, previous), "failed");
			else $("#main").replaceChildren(el("p", {}, el("a", {href: "#/", text: "← all tasks"})),
				el("p", {class: "error", text: e.message}));
			return;
		}
		if (v !== view) return;
		const state = taskState(p.t, p.subs, p.errs);
		if (state !== previous) renderTask(p, v);
		if (UNFINISHED.has(p.t.task_status))
			schedule(() => refreshTask(id, v, state), state !== previous ? "changed" : "same");
	}

	function showTask(id) {
		const v = ++view;
		stopPolling();
		$("#main").replaceChildren(el("p", {text: `Loading task ${id}…`}));
		refreshTask(id, v);
	}

	// ---------------------------------------------------------------- routing

	function route() {
		stopPolling();
		say(note);
		note = "";
		const h = location.hash.replace(/^#/, "") || "/";
		const [path, query] = h.split("?");
		const m = path.match(/^\/tasks\/(\d+)$/);
		if (m) showTask(parseInt(m[1], 10));
		else showList(new URLSearchParams(query || ""));
		$("#main").focus({preventScroll: true});
	}

	function setupAccount() {
		const input = $("#account");
		input.value = account;
		$("#account-form").addEventListener("submit", (ev) => {
			ev.preventDefault();
			account = input.value.trim();
			if (account) localStorage.setItem("luna-account", account);
			else localStorage.removeItem("luna-account");
			say(account ? "Showing account " + account + " only." : "Showing every account.");
			route();
		});
	}

	setupAccount();
	window.addEventListener("hashchange", route);
	route();
})();
