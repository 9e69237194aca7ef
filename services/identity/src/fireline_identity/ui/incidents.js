// Incidents: the org's incident list and one incident's page, kept current by the live stream.
// Everything goes through identity's /bff/ routes with the session cookie: identity calls the
// incidents API with the person's access token, which never reaches this page.

import { el, formatDate, showMessage } from "./api.js";

const $ = (id) => document.getElementById(id);

const API = "/bff/v1/incidents";
const STREAM = "/bff/v1/incident-events";
const PAGE = 25;
const TIMELINE_PAGE = 100; // the API's largest page
// Every event type of fireline.incidents.v1 the stream sends, and its own control events.
const CHANGE_EVENTS = [
  "IncidentStarted",
  "IncidentStatusChanged",
  "IncidentSeverityChanged",
  "IncidentAssignmentChanged",
  "IncidentDetailsChanged",
  "IncidentTimelineEntryAdded",
];
const STATUS_LABELS = { triggered: "Triggered", acknowledged: "Acknowledged", resolved: "Resolved" };
const SOURCE_LABELS = { pagerduty: "PagerDuty", api: "Fireline" };

function when(iso) {
  const at = formatDate(iso);
  return at ? `${at.date} ${at.time}`.trim() : "";
}

export function createIncidentsView(ctx) {
  const listView = $("incidents-view");
  const pageView = $("incident-view");
  const rows = $("incident-rows");
  const more = $("incidents-more");
  const empty = $("incidents-empty");
  const listError = $("incidents-error");
  const statusFilter = $("incident-status");
  const severityFilter = $("incident-severity-filter");
  const search = $("incident-search");
  const liveStatus = $("live-status");

  let shown = null; // "list", or the id of the incident on screen
  let nextCursor = null;
  let listSeq = 0;
  let pageSeq = 0;
  let current = null;
  let stream = null;
  let refreshTimer = null;

  // ---- the list ----------------------------------------------------------------------------

  function listQuery(cursor, limit) {
    const params = new URLSearchParams({ limit: String(limit) });
    if (statusFilter.value) params.set("status", statusFilter.value);
    if (severityFilter.value) params.set("severity", severityFilter.value);
    if (search.value.trim()) params.set("q", search.value.trim());
    if (cursor) params.set("cursor", cursor);
    return `${API}?${params}`;
  }

  function row(incident) {
    const link = el("a", { href: `#/incidents/${incident.id}` }, incident.title);
    return el(
      "tr",
      { dataset: { id: incident.id } },
      el("td", { dataset: { label: "Number" } }, `#${incident.number}`),
      el("td", { dataset: { label: "Title" } }, link),
      el("td", { dataset: { label: "Status" } }, el("span", { className: "status-pill" }, STATUS_LABELS[incident.status] || incident.status)),
      el("td", { dataset: { label: "Severity" } }, incident.severity),
      el("td", { dataset: { label: "Started" } }, when(incident.created_at)),
    );
  }

  async function loadCounts() {
    try {
      const counts = await ctx.call("GET", `${API}/counts`);
      $("incident-counts").replaceChildren(
        ...Object.entries(STATUS_LABELS).map(([status, label]) =>
          el("li", { dataset: { status } }, el("strong", {}, String(counts[status] ?? 0)), label),
        ),
      );
    } catch (err) {
      showMessage(listError, ctx.describeError(err));
    }
  }

  async function loadList({ append = false } = {}) {
    if (!append) loadCounts();
    const seq = ++listSeq;
    showMessage(listError, "");
    // A live refresh re-reads as many rows as are on screen, so paging does not jump back.
    const limit = append ? PAGE : Math.min(Math.max(rows.children.length, PAGE), 100);
    try {
      const page = await ctx.call("GET", listQuery(append ? nextCursor : null, limit));
      if (seq !== listSeq) return;
      const items = page.items.map(row);
      if (append) rows.append(...items);
      else rows.replaceChildren(...items);
      nextCursor = page.next_cursor || null;
      more.hidden = !nextCursor;
      empty.hidden = rows.children.length > 0;
    } catch (err) {
      if (seq === listSeq) showMessage(listError, ctx.describeError(err));
    }
  }

  function refilter() {
    rows.replaceChildren();
    loadList();
  }
  statusFilter.addEventListener("change", refilter);
  severityFilter.addEventListener("change", refilter);
  $("incident-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    refilter();
  });
  more.addEventListener("click", () => loadList({ append: true }));

  // ---- one incident ------------------------------------------------------------------------

  function userName(id) {
    if (!id) return null;
    const user = ctx.users.get(String(id));
    if (user) return user.name || user.email;
    return ctx.me && String(ctx.me.id) === String(id) ? ctx.me.name || ctx.me.email : `User ${id}`;
  }

  function actorName(actor) {
    if (actor.name) return actor.name;
    if (actor.kind === "user") return userName(actor.id);
    if (actor.kind === "api_key") return actor.id ? `API key ${actor.id}` : "An API key";
    if (actor.kind === "system") return "Fireline";
    return actor.id || "PagerDuty";
  }

  function facts(incident) {
    const link = incident.source && incident.source.html_url;
    const assignees = (incident.assignees || []).map((a) => a.name || a.id).join(", ");
    const pairs = [
      ["Number", `#${incident.number}`],
      ["Status", STATUS_LABELS[incident.status] || incident.status],
      ["Severity", incident.severity],
      ["Type", incident.incident_type],
      ["Creator", userName(incident.creator_id) || "No creator"],
      ["Assignees", assignees || "Nobody"],
      ["PagerDuty", link ? el("a", { href: link, rel: "noopener noreferrer", target: "_blank" }, "Open in PagerDuty") : "Not from PagerDuty"],
      ["Started", when(incident.created_at)],
    ];
    return pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]);
  }

  function entry(item) {
    const source = SOURCE_LABELS[item.source] || item.source;
    return el(
      "li",
      { dataset: { kind: item.kind } },
      el("p", { className: "entry-meta" }, `${when(item.occurred_at)} · ${actorName(item.actor)} · via ${source}`),
      el("p", { className: "entry-summary" }, item.summary),
      item.text ? el("p", { className: "entry-text" }, item.text) : null,
    );
  }

  async function loadIncident(id, { focus = false } = {}) {
    const seq = ++pageSeq;
    showMessage($("incident-error"), "");
    try {
      const incident = await ctx.call("GET", `${API}/${encodeURIComponent(id)}`);
      const entries = [];
      let cursor = null;
      do {
        const params = new URLSearchParams({ limit: String(TIMELINE_PAGE) });
        if (cursor) params.set("cursor", cursor);
        const page = await ctx.call("GET", `${API}/${encodeURIComponent(id)}/timeline?${params}`);
        entries.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor);
      if (seq !== pageSeq || shown !== id) return;
      current = incident;
      $("incident-title").textContent = `#${incident.number} ${incident.title}`;
      $("incident-facts").replaceChildren(...facts(incident));
      // A live refresh must not overwrite what the person is typing.
      const severityInput = $("incident-severity");
      if (!severityInput.dataset.edited) severityInput.value = incident.severity;
      $("incident-ack").disabled = incident.status !== "triggered";
      $("incident-resolve").disabled = incident.status === "resolved";
      $("incident-reopen").disabled = incident.status !== "resolved";
      $("timeline").replaceChildren(...entries.map(entry));
      if (focus) $("incident-title").focus();
    } catch (err) {
      if (seq !== pageSeq) return;
      if (!current) $("incident-title").textContent = "Incident";
      showMessage($("incident-error"), ctx.describeError(err));
    }
  }

  // Each action shows what happened, or the API's own problem in words.
  async function act(method, path, body, done) {
    const message = $("action-message");
    const error = $("action-error");
    showMessage(message, "");
    showMessage(error, "");
    const id = shown;
    try {
      await ctx.call(method, `${API}/${encodeURIComponent(id)}${path}`, body);
      showMessage(message, done);
      await loadIncident(id);
      return true;
    } catch (err) {
      showMessage(error, ctx.describeError(err));
      return false;
    }
  }

  $("incident-ack").addEventListener("click", () => act("PATCH", "", { status: "acknowledged" }, "Acknowledged."));
  $("incident-resolve").addEventListener("click", () => act("PATCH", "", { status: "resolved" }, "Resolved."));
  $("incident-reopen").addEventListener("click", () => act("PATCH", "", { status: "triggered" }, "Reopened."));
  $("incident-severity").addEventListener("input", (event) => {
    event.target.dataset.edited = "true";
  });
  $("severity-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("incident-severity");
    const severity = input.value;
    if (await act("PATCH", "", { severity }, `Severity is now ${severity.trim()}.`)) {
      delete input.dataset.edited;
      input.value = current ? current.severity : severity.trim();
    }
  });
  $("note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("note-text");
    if (await act("POST", "/timeline", { text: text.value }, "Note added to the timeline.")) text.value = "";
  });

  // ---- live updates ------------------------------------------------------------------------

  function onChange(event) {
    let incidentId = null;
    try {
      incidentId = String(JSON.parse(event.data).payload.incident_id);
    } catch {
      incidentId = null;
    }
    // Changes come in bursts (a storm, or a change and its timeline entry): refresh once per burst.
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      if (shown === "list") loadList();
      else if (shown && (incidentId === null || incidentId === shown)) loadIncident(shown);
    }, 250);
  }

  function openStream() {
    if (stream) return;
    // Same origin, session cookie; the browser resumes with Last-Event-ID after a drop.
    stream = new EventSource(STREAM);
    stream.addEventListener("ready", () => {
      liveStatus.textContent = "Live: changes appear as they happen.";
    });
    for (const type of [...CHANGE_EVENTS, "reset"]) stream.addEventListener(type, onChange);
    stream.addEventListener("error", async () => {
      liveStatus.textContent = "Live updates interrupted; reconnecting…";
      if (stream && stream.readyState === EventSource.CLOSED) {
        // Refused for good (the session ended, say): ask the API, which sends a 401 to login.
        stream = null;
        await ctx.call("GET", "/v1/me");
        setTimeout(openStream, 3000);
      }
    });
  }

  return {
    showList() {
      shown = "list";
      pageView.hidden = true;
      listView.hidden = false;
      openStream();
      loadList();
    },
    showIncident(id) {
      shown = id;
      current = null;
      delete $("incident-severity").dataset.edited;
      listView.hidden = true;
      pageView.hidden = false;
      $("incident-title").textContent = "Loading…";
      $("incident-facts").replaceChildren();
      $("timeline").replaceChildren();
      showMessage($("action-message"), "");
      showMessage($("action-error"), "");
      openStream();
      ctx.ensureUsers().finally(() => loadIncident(id, { focus: true }));
    },
    hide() {
      shown = null;
      listView.hidden = true;
      pageView.hidden = true;
    },
    get current() {
      return current;
    },
  };
}
