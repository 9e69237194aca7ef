// Audit log: the org's append-only record of security-relevant changes (admins only).
// Filters and the cursor are the API's; this view only puts them in the query string.

import { el, formatDate, showMessage } from "./api.js";

const $ = (id) => document.getElementById(id);

const ACTION_LABELS = {
  "key.created": "Key created",
  "key.renamed": "Key renamed",
  "key.rotated": "Key rotated",
  "key.revoked": "Key revoked",
  "key.exchange_failed": "Key exchange failed",
  "user.created": "User created",
  "user.updated": "User changed",
  "user.deactivated": "User deactivated",
  "login.succeeded": "Login succeeded",
  "login.failed": "Login failed",
  "session.revoked": "Session revoked",
  "integration.created": "Integration created",
  "integration.changed": "Integration changed",
  "integration.signing_secrets_rotated": "Integration signing secrets rotated",
  "integration.deleted": "Integration deleted",
  "webhook_endpoint.created": "Webhook endpoint created",
  "webhook_endpoint.changed": "Webhook endpoint changed",
  "webhook_endpoint.secret_rotated": "Webhook endpoint secret rotated",
  "webhook_endpoint.deleted": "Webhook endpoint deleted",
  "webhook_endpoint.disabled": "Webhook endpoint disabled",
};

const ACTOR_LABELS = { secret_scanner: "Secret scanner", system: "System" };

export function createAuditView(ctx) {
  const form = $("audit-filters");
  const error = $("audit-error");
  const tbody = $("audit-table").querySelector("tbody");
  const empty = $("audit-empty");
  const more = $("audit-more");
  const exportLink = $("audit-export");

  let nextCursor = null;
  let loadSeq = 0;

  // Dates are whole days in the person's time zone; "until" includes its day.
  function filters() {
    const params = new URLSearchParams();
    for (const name of ["action", "actor", "target"]) {
      const value = form.elements[name].value.trim();
      if (value) params.set(name, value);
    }
    const since = form.elements.since.value;
    const until = form.elements.until.value;
    if (since) params.set("since", new Date(`${since}T00:00:00`).toISOString());
    if (until) {
      const end = new Date(`${until}T00:00:00`);
      end.setDate(end.getDate() + 1);
      params.set("until", end.toISOString());
    }
    return params;
  }

  async function fetchPage(append) {
    const seq = ++loadSeq;
    showMessage(error, "");
    const params = filters();
    exportLink.href = `/v1/audit-events/export${params.size ? `?${params}` : ""}`;
    if (append && nextCursor) params.set("cursor", nextCursor);
    try {
      const page = await ctx.call("GET", `/v1/audit-events?${params}`);
      if (seq !== loadSeq) return;
      const rows = (page.items || []).map(row);
      if (append) tbody.append(...rows);
      else tbody.replaceChildren(...rows);
      nextCursor = page.next_cursor || null;
      more.hidden = !nextCursor;
      empty.hidden = tbody.children.length > 0;
    } catch (err) {
      if (seq !== loadSeq) return;
      more.hidden = true;
      showMessage(error, filterProblem(err));
    }
  }

  function filterProblem(err) {
    if (err && err.code === "validation_error" && err.detail) {
      return `Check the filters: ${err.detail}`;
    }
    return ctx.describeError(err);
  }

  function who(actor) {
    if (actor.type === "user") {
      const user = ctx.users.get(String(actor.id));
      return user ? user.email : `User ${actor.id}`;
    }
    if (actor.type === "key") return `Key ${actor.id}`;
    return ACTOR_LABELS[actor.type] || actor.type;
  }

  function details(entry) {
    const d = entry.details || {};
    const parts = [];
    for (const [key, value] of Object.entries(d)) {
      if (value === null || value === undefined || value === "") continue;
      const shown = Array.isArray(value) ? value.join(", ") : String(value);
      parts.push(`${key.replace(/_/g, " ")}: ${shown}`);
    }
    return parts.join("; ");
  }

  function row(entry) {
    const when = formatDate(entry.occurred_at);
    return el(
      "tr",
      { dataset: { entryId: entry.id, action: entry.action } },
      el("td", { dataset: { label: "When" } }, when ? `${when.date} ${when.time}` : "—"),
      el("th", { scope: "row", dataset: { label: "Action" } }, ACTION_LABELS[entry.action] || entry.action),
      el("td", { dataset: { label: "Actor" } }, who(entry.actor)),
      el("td", { dataset: { label: "Target" } }, `${entry.target.type} ${entry.target.id}`),
      el("td", { dataset: { label: "Address" } }, entry.address || "—"),
      el("td", { dataset: { label: "Details" } }, details(entry)),
    );
  }

  async function load() {
    nextCursor = null;
    await ctx.ensureUsers();
    await fetchPage(false);
  }

  function init() {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    more.addEventListener("click", () => fetchPage(true));
  }

  return { init, load };
}
