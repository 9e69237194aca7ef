// The signed-in shell: who is logged in, the sidebar, the Identity Management tabs and the
// dialogs the tabs share. Data comes only from identity's JSON API (see api.js).

import { api, ApiError, describeError, showMessage } from "./api.js";
import { createAuditView } from "./audit.js";
import { createIncidentsView } from "./incidents.js";
import { createKeysView } from "./keys.js";
import { createUsersView } from "./users.js";

const $ = (id) => document.getElementById(id);

// Every API call of the app goes through here so that an ended session, wherever it is noticed,
// leads back to the login page instead of a broken screen.
let sessionChecked = false;
async function call(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      const reason = sessionChecked ? "?reason=expired" : "";
      window.location.replace(`/ui/login${reason}`);
      // The page is going away; never settle so no screen renders half an answer.
      return new Promise(() => {});
    }
    throw err;
  }
}

// ---- dialogs -------------------------------------------------------------------------------

const openers = new WeakMap();

function openDialog(dialog, focusTarget) {
  openers.set(dialog, document.activeElement);
  dialog.showModal();
  const target =
    focusTarget || dialog.querySelector("input:not([type=hidden]), select, textarea, button");
  if (target) target.focus();
}

for (const dialog of document.querySelectorAll("dialog")) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
  // Escape closes a modal <dialog> natively; put focus back where the person was.
  dialog.addEventListener("close", () => {
    const opener = openers.get(dialog);
    if (opener && opener.isConnected && !opener.disabled && !opener.hidden) opener.focus();
  });
}

const confirmDialog = $("confirm-dialog");
let confirmAction = null;

function confirm({ title, text, okLabel, action }) {
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  showMessage($("confirm-error"), "");
  confirmAction = action;
  // The safe choice has focus, so Enter on a stray key press does not destroy anything.
  openDialog(confirmDialog, $("confirm-cancel"));
}

$("confirm-ok").addEventListener("click", async () => {
  if (!confirmAction) return;
  const ok = $("confirm-ok");
  ok.disabled = true;
  try {
    await confirmAction();
    confirmAction = null;
    confirmDialog.close();
  } catch (err) {
    showMessage($("confirm-error"), describeError(err));
  } finally {
    ok.disabled = false;
  }
});
confirmDialog.addEventListener("close", () => {
  confirmAction = null;
});

// ---- shell ---------------------------------------------------------------------------------

const ctx = {
  me: null,
  isAdmin: false,
  call,
  openDialog,
  confirm,
  describeError,
  // id -> user; filled when the users list is readable (admins), else empty.
  users: new Map(),
  usersLoaded: false,
  async ensureUsers() {
    if (ctx.usersLoaded) return;
    if (!ctx.isAdmin) {
      // Only admins may list users (the API answers 403); members see creator ids instead.
      ctx.usersLoaded = true;
      return;
    }
    try {
      await ctx.refreshUsers();
    } catch (err) {
      // Members may not list users; keys then show creator ids. Ask once, not on every load.
      if (err instanceof ApiError && err.status === 403) ctx.usersLoaded = true;
    }
  },
  async refreshUsers() {
    const data = await call("GET", "/v1/users");
    const items = Array.isArray(data) ? data : (data && data.items) || [];
    ctx.users = new Map(items.map((u) => [String(u.id), u]));
    ctx.usersLoaded = true;
    return items;
  },
};

const users = createUsersView(ctx);
const keys = createKeysView(ctx);
const audit = createAuditView(ctx);
const incidents = createIncidentsView(ctx);

const tabs = {
  users: { tab: $("tab-users"), panel: $("panel-users"), view: users },
  keys: { tab: $("tab-keys"), panel: $("panel-keys"), view: keys },
  audit: { tab: $("tab-audit"), panel: $("panel-audit"), view: audit },
};

// Tabs this person may open: the audit log is for admins only (the API answers 403 otherwise).
function visibleTabs() {
  return Object.keys(tabs).filter((name) => !tabs[name].tab.hidden);
}

function currentTab() {
  const match = /^#\/identity\/(users|keys|audit)$/.exec(window.location.hash);
  return match && visibleTabs().includes(match[1]) ? match[1] : "users";
}

function showTab(name) {
  for (const [key, t] of Object.entries(tabs)) {
    const selected = key === name;
    t.tab.setAttribute("aria-selected", String(selected));
    t.tab.tabIndex = selected ? 0 : -1;
    t.panel.hidden = !selected;
  }
  tabs[name].view.load();
}

function selectTab(name, { focus = false } = {}) {
  const hash = `#/identity/${name}`;
  if (window.location.hash !== hash) window.location.hash = hash;
  else showTab(name);
  if (focus) tabs[name].tab.focus();
}

for (const [name, t] of Object.entries(tabs)) {
  t.tab.addEventListener("click", () => selectTab(name));
}

// Arrow keys move between tabs, as screen-reader users expect of a tablist.
document.querySelector("[role=tablist]").addEventListener("keydown", (event) => {
  const names = visibleTabs();
  const index = names.indexOf(currentTab());
  let next = null;
  if (event.key === "ArrowRight") next = names[(index + 1) % names.length];
  else if (event.key === "ArrowLeft") next = names[(index - 1 + names.length) % names.length];
  else if (event.key === "Home") next = names[0];
  else if (event.key === "End") next = names[names.length - 1];
  if (next) {
    event.preventDefault();
    selectTab(next, { focus: true });
  }
});

// Sections: #/incidents, #/incidents/<id>, and Identity Management's #/identity/<tab>. The app
// opens on the incident list, the page responders come for.
function route() {
  if (!/^#\/(incidents|identity)(\/|$)/.test(window.location.hash)) {
    window.location.replace("#/incidents");
    return; // the replaced hash routes again
  }
  const match = /^#\/incidents(?:\/([0-9a-f-]{36}))?$/.exec(window.location.hash);
  for (const [id, current] of [["nav-incidents", Boolean(match)], ["nav-identity", !match]]) {
    if (current) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  $("identity-view").hidden = Boolean(match);
  if (!match) {
    incidents.hide();
    showTab(currentTab());
  } else if (match[1]) {
    incidents.showIncident(match[1]);
  } else {
    incidents.showList();
  }
}

window.addEventListener("hashchange", route);

// Sidebar: always visible on wide screens, a toggled drawer on narrow ones.
const sidebar = $("sidebar");
const navToggle = $("nav-toggle");

function setSidebar(open) {
  sidebar.classList.toggle("open", open);
  navToggle.setAttribute("aria-expanded", String(open));
}

navToggle.addEventListener("click", () => {
  const open = !sidebar.classList.contains("open");
  setSidebar(open);
  if (open) $("nav-identity").focus();
});
document.addEventListener("keydown", (event) => {
  // A modal dialog handles its own Escape; this one is for the open drawer.
  if (event.key === "Escape" && sidebar.classList.contains("open") && !document.querySelector("dialog[open]")) {
    setSidebar(false);
    navToggle.focus();
  }
});
$("nav-incidents").addEventListener("click", () => setSidebar(false));
$("nav-identity").addEventListener("click", () => {
  setSidebar(false);
  // Selecting the section again returns to its first tab.
  if (currentTab() === "users") showTab("users");
});

$("logout").addEventListener("click", async () => {
  try {
    await api("DELETE", "/v1/session");
  } catch {
    // Already logged out or unreachable: either way the login page is the right place.
  }
  window.location.replace("/ui/login?reason=logged-out");
});

async function start() {
  let data;
  try {
    data = await call("GET", "/v1/me");
  } catch (err) {
    showMessage($("app-loading"), describeError(err));
    return;
  }
  sessionChecked = true;
  const me = (data && data.user) || data;
  ctx.me = me;
  ctx.isAdmin = me.role === "admin";
  document.body.classList.toggle("is-admin", ctx.isAdmin);
  const who = me.name ? `${me.name} (${me.email})` : me.email;
  $("whoami").textContent = `${who}${ctx.isAdmin ? " · admin" : ""}`;
  $("sidebar-user").textContent = `Logged in as ${$("whoami").textContent}`;
  for (const th of document.querySelectorAll("th.admin-only")) th.hidden = !ctx.isAdmin;
  $("app-loading").hidden = true;
  $("tab-audit").hidden = !ctx.isAdmin;
  users.init();
  keys.init();
  audit.init();
  route();
}

start();
