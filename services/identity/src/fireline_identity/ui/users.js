// Users: the org's people; admins add and deactivate them.

import { ApiError, el, showMessage } from "./api.js";

const $ = (id) => document.getElementById(id);

const FIELD_LABELS = { email: "Email", name: "Name", role: "Role", password: "Password" };

export function createUsersView(ctx) {
  const addButton = $("add-user");
  const message = $("users-message");
  const error = $("users-error");
  const table = $("users-table");
  const tbody = $("users-rows");

  const dialog = $("user-dialog");
  const form = $("user-form");
  const formError = $("user-error");

  let loadSeq = 0;

  async function load() {
    const seq = ++loadSeq;
    showMessage(error, "");
    try {
      const items = await ctx.refreshUsers();
      if (seq !== loadSeq) return;
      table.hidden = false;
      tbody.replaceChildren(...items.map(row));
    } catch (err) {
      if (seq !== loadSeq) return;
      if (err instanceof ApiError && err.status === 403) {
        table.hidden = true;
        showMessage(error, "Only admins can see the list of users.");
      } else {
        showMessage(error, ctx.describeError(err));
      }
    }
  }

  function row(user) {
    const active = user.active !== false;
    const isMe = ctx.me && String(ctx.me.id) === String(user.id);
    const tr = el(
      "tr",
      { dataset: { userId: user.id } },
      el("th", { scope: "row", dataset: { label: "Email" } }, user.email, isMe ? el("span", { className: "sub" }, "you") : null),
      el("td", { dataset: { label: "Name" } }, user.name || "—"),
      el("td", { dataset: { label: "Role" } }, user.role === "admin" ? "Admin" : "Member"),
      el(
        "td",
        { dataset: { label: "Status" } },
        el("span", { className: `badge badge-${active ? "active" : "revoked"}` }, active ? "Active" : "Deactivated"),
      ),
    );
    if (ctx.isAdmin) {
      const actions = el("td", { className: "row-actions", dataset: { label: "Actions" } });
      if (active && !isMe) {
        actions.append(
          el(
            "button",
            { type: "button", className: "button small danger", "aria-label": `Deactivate ${user.email}`, onclick: () => confirmDeactivate(user) },
            "Deactivate",
          ),
        );
      }
      tr.append(actions);
    }
    return tr;
  }

  function confirmDeactivate(user) {
    ctx.confirm({
      title: "Deactivate this user?",
      text: `${user.email} will no longer be able to log in. Their API keys keep working until an admin revokes them.`,
      okLabel: "Deactivate",
      action: async () => {
        await ctx.call("PATCH", `/v1/users/${encodeURIComponent(user.id)}`, { active: false });
        showMessage(message, `${user.email} was deactivated.`);
        load();
      },
    });
  }

  function openAdd() {
    form.reset();
    showMessage(formError, "");
    ctx.openDialog(dialog, $("user-email"));
  }

  function addProblem(err) {
    if (err instanceof ApiError) {
      if (err.status === 409 || err.code === "conflict" || err.code === "email_taken") {
        return "A user with this email already exists.";
      }
      if (err.code === "validation_error") {
        const errors = (err.problem && err.problem.errors) || [];
        const lines = errors.map((e) => {
          const field = (e.loc || []).filter((p) => p !== "body")[0];
          const label = FIELD_LABELS[field] || field || "Form";
          return `${label}: ${plainMessage(field, e.msg)}`;
        });
        return lines.length ? lines.join(" ") : err.detail || "Check the form and try again.";
      }
    }
    return ctx.describeError(err);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showMessage(formError, "");
    const body = {
      email: $("user-email").value.trim(),
      name: $("user-name").value,
      role: $("user-role").value,
      password: $("user-password").value,
    };
    try {
      const created = await ctx.call("POST", "/v1/users", body);
      dialog.close();
      showMessage(message, `${(created && created.email) || body.email} was added.`);
      load();
    } catch (err) {
      showMessage(formError, addProblem(err));
      $("user-email").focus();
    }
  });

  function init() {
    addButton.hidden = !ctx.isAdmin;
    addButton.addEventListener("click", openAdd);
  }

  return { init, load };
}

function plainMessage(field, msg) {
  if (field === "email") return "enter a valid email address.";
  const text = String(msg || "is not valid").replace(/^Value error, /, "");
  return text.endsWith(".") ? text : `${text}.`;
}
