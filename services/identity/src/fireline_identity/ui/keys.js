// Key Management: list, generate and rotate (secret shown once), rename, revoke.
//
// The secret of a new key lives only in the reveal dialog's text while that dialog is open. It
// is not kept in any variable of this module, and closing the dialog erases it, so it cannot be
// shown again (the API never returns it again either).

import { ApiError, el, formatDate, showMessage } from "./api.js";

// Mirrors the API's limit so the button can say why it is disabled before anyone tries; the API
// stays the judge (a 409 key_limit_reached is shown the same way).
const ACTIVE_KEY_LIMIT = 10;

const $ = (id) => document.getElementById(id);

export function createKeysView(ctx) {
  const generateButton = $("generate-key");
  const limitReason = $("key-limit-reason");
  const count = $("key-count");
  const showRevoked = $("show-revoked");
  const message = $("keys-message");
  const error = $("keys-error");
  const tbody = $("keys-rows");
  const empty = $("keys-empty");

  const generateDialog = $("generate-dialog");
  const generateForm = $("generate-form");
  const nameInput = $("key-name");
  const expiryInput = $("key-expiry");
  const generateError = $("generate-error");

  const revealDialog = $("reveal-dialog");
  const revealKey = $("reveal-key");
  const copyStatus = $("copy-status");

  const revealTitle = $("reveal-title");
  const revealGrace = $("reveal-grace");

  const rotateDialog = $("rotate-dialog");
  const rotateForm = $("rotate-form");
  const rotateGrace = $("rotate-grace");
  const rotateError = $("rotate-error");
  let rotating = null;

  const renameDialog = $("rename-dialog");
  const renameForm = $("rename-form");
  const renameInput = $("rename-name");
  const renameError = $("rename-error");
  let renaming = null;

  let loadSeq = 0;

  async function load() {
    const seq = ++loadSeq;
    showMessage(error, "");
    try {
      await ctx.ensureUsers();
      const query = showRevoked.checked ? "?include_revoked=true" : "";
      const data = await ctx.call("GET", `/v1/api-keys${query}`);
      if (seq !== loadSeq) return;
      render((data && data.items) || []);
    } catch (err) {
      if (seq === loadSeq) showMessage(error, ctx.describeError(err));
    }
  }

  function render(items) {
    const active = items.filter((k) => k.status === "active").length;
    count.textContent = `${active} of ${ACTIVE_KEY_LIMIT} active keys`;
    if (ctx.isAdmin) {
      const full = active >= ACTIVE_KEY_LIMIT;
      generateButton.disabled = full;
      showMessage(
        limitReason,
        full
          ? `Your organization has ${ACTIVE_KEY_LIMIT} active keys, the most allowed. Revoke a key to generate a new one.`
          : "",
      );
    }
    tbody.replaceChildren(...items.map(row));
    empty.hidden = items.length > 0;
    empty.textContent = showRevoked.checked ? "No API keys yet." : "No active API keys.";
  }

  function row(key) {
    const cell = (label, ...content) => el("td", { dataset: { label } }, ...content);
    const status = key.status || "active";
    const tr = el(
      "tr",
      { dataset: { keyId: key.id, status } },
      el("th", { scope: "row", dataset: { label: "Name" } }, key.name),
      cell("Hint", el("code", {}, key.hint || "")),
      cell("Scopes", scopes(key.scopes)),
      el("td", { className: "created-by", dataset: { label: "Created by" } }, creator(key.created_by)),
      cell("Created", when(key.created_at, "—")),
      cell("Last used", when(key.last_used_at, "Never")),
      cell("Expiry", when(key.expires_at, "Never")),
      cell("Status", el("span", { className: `badge badge-${status}` }, statusText(key, status)), ...statusNotes(key)),
    );
    if (ctx.isAdmin) {
      const actions = el("td", { className: "row-actions", dataset: { label: "Actions" } });
      if (status === "active") {
        actions.append(
          el(
            "button",
            { type: "button", className: "button small secondary", "aria-label": `Rename key ${key.name}`, onclick: () => openRename(key) },
            "Rename",
          ),
          el(
            "button",
            { type: "button", className: "button small secondary", "aria-label": `Rotate key ${key.name}`, onclick: () => openRotate(key) },
            "Rotate",
          ),
          el(
            "button",
            { type: "button", className: "button small danger", "aria-label": `Revoke key ${key.name}`, onclick: () => confirmRevoke(key) },
            "Revoke",
          ),
        );
      }
      tr.append(actions);
    }
    return tr;
  }

  function statusText(key, status) {
    if (status === "revoked" && key.revocation_reason === "leaked") return "Revoked: leaked";
    return capitalise(status);
  }

  // What an admin needs to act on: a rotation in progress (and whether a machine still uses the
  // old secret), or where a leaked secret was found.
  function statusNotes(key) {
    const notes = [];
    const rotation = key.rotation;
    if (rotation) {
      const until = formatDate(rotation.previous_valid_until);
      notes.push(
        el(
          "p",
          { className: "sub rotation-note" },
          `Rotating: old secret works until ${until ? `${until.date} ${until.time}` : rotation.previous_valid_until}.`,
        ),
      );
      const used = formatDate(rotation.previous_used_at);
      notes.push(
        el(
          "p",
          { className: rotation.previous_used_at ? "sub rotation-note in-use" : "sub rotation-note" },
          used ? `Old secret still used (last ${used.date} ${used.time}).` : "Old secret not used since the rotation.",
        ),
      );
    }
    if (key.revocation_reason === "leaked" && key.revocation_report_url) {
      notes.push(
        el(
          "p",
          { className: "sub" },
          "Found in public by a secret scanner: ",
          el("a", { href: key.revocation_report_url, rel: "noopener noreferrer", target: "_blank" }, "report"),
        ),
      );
    }
    return notes;
  }

  function scopes(list) {
    if (!Array.isArray(list) || list.length === 0) return "—";
    const all = [...document.querySelectorAll("#generate-form input[name=scope]")].map((b) => b.value);
    if (all.length > 0 && all.every((s) => list.includes(s))) {
      // Four long scope names per row crowd the table; the full list is one hover away.
      return el("span", { className: "chip", title: list.join(", ") }, "All scopes");
    }
    return el("ul", { className: "chips" }, ...list.map((s) => el("li", {}, s)));
  }

  function creator(id) {
    if (!id) return "—";
    const user = ctx.users.get(String(id)) || (ctx.me && String(ctx.me.id) === String(id) ? ctx.me : null);
    if (!user) return el("code", { className: "id" }, String(id));
    // The name reads best in a narrow column; the email, which tells namesakes apart, is on hover.
    return el("span", { title: user.email }, user.name || user.email);
  }

  function when(iso, none) {
    const parts = formatDate(iso);
    if (!parts) return none;
    return el("time", { dateTime: iso, title: iso }, parts.date, el("span", { className: "sub" }, parts.time));
  }

  // ---- generate ----------------------------------------------------------------------------

  function openGenerate() {
    generateForm.reset();
    showMessage(generateError, "");
    nameInput.removeAttribute("aria-invalid");
    ctx.openDialog(generateDialog, nameInput);
  }

  function generateBody() {
    const body = { name: nameInput.value };
    const boxes = [...generateForm.querySelectorAll("input[name=scope]")];
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    // All boxes ticked is the API's default; only send a choice when one was made.
    if (chosen.length !== boxes.length) body.scopes = chosen;
    if (expiryInput.value) {
      // The end of the chosen day in the person's own time zone.
      body.expires_at = new Date(`${expiryInput.value}T23:59:59`).toISOString();
    }
    return body;
  }

  function generateProblem(err) {
    if (err instanceof ApiError && err.code === "validation_error") {
      const fields = err.fields();
      if (fields.includes("scopes")) return "Choose at least one scope from the list.";
      if (fields.includes("expires_at")) return "Choose an expiry date in the future, or leave it empty.";
      if (fields.length === 0 || fields.includes("name")) {
        nameInput.setAttribute("aria-invalid", "true");
        return nameInput.value.trim()
          ? "That name is too long. Use at most 64 characters."
          : "Enter a name for the key.";
      }
    }
    return ctx.describeError(err);
  }

  generateForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    showMessage(generateError, "");
    const submit = $("generate-submit");
    submit.disabled = true;
    try {
      const created = await ctx.call("POST", "/v1/api-keys", generateBody());
      generateDialog.close();
      reveal(created);
      load();
    } catch (err) {
      showMessage(generateError, generateProblem(err));
      if (err instanceof ApiError && err.code === "key_limit_reached") load();
      nameInput.focus();
    } finally {
      submit.disabled = false;
    }
  });

  function reveal(created, rotatedFor = null) {
    // The same show-once dialog for a rotation's new secret, saying how long the old one lasts.
    revealTitle.textContent = rotatedFor === null ? "Your new API key" : "Your key's new secret";
    revealGrace.hidden = rotatedFor === null;
    revealGrace.textContent =
      rotatedFor === null
        ? ""
        : rotatedFor === 0
          ? "The old secret has stopped working."
          : `The old secret keeps working for ${graceLabel(rotatedFor)}.`;
    revealDialog.dataset.action = rotatedFor === null ? "created" : "rotated";
    $("reveal-name").textContent = created.name;
    $("reveal-id").textContent = created.id;
    revealKey.textContent = created.key;
    showMessage(message, "");
    copyStatus.textContent = "";
    ctx.openDialog(revealDialog, $("copy-key"));
    revealDialog.dataset.keyName = created.name;
  }

  $("copy-key").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(revealKey.textContent);
      copyStatus.textContent = "Copied to the clipboard.";
    } catch {
      copyStatus.textContent = "The browser did not allow copying. Select the key and copy it yourself.";
      window.getSelection().selectAllChildren(revealKey);
    }
  });

  revealDialog.addEventListener("close", () => {
    // Forget the secret: it is never shown again.
    revealKey.textContent = "";
    copyStatus.textContent = "";
    $("reveal-id").textContent = "";
    window.getSelection().removeAllRanges();
    const name = revealDialog.dataset.keyName;
    const action = revealDialog.dataset.action;
    delete revealDialog.dataset.keyName;
    $("reveal-name").textContent = "";
    if (name && action === "rotated") showMessage(message, `Key “${name}” has a new secret.`);
    else if (name) showMessage(message, `Key “${name}” was created. It is listed below.`);
  });

  // ---- rotate ------------------------------------------------------------------------------

  function openRotate(key) {
    rotating = key;
    rotateForm.reset();
    $("rotate-title").textContent = `Rotate key “${key.name}”`;
    showMessage(rotateError, "");
    ctx.openDialog(rotateDialog, rotateGrace);
  }

  rotateForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!rotating) return;
    showMessage(rotateError, "");
    const submit = $("rotate-submit");
    const minutes = Number(rotateGrace.value);
    submit.disabled = true;
    try {
      const rotated = await ctx.call("POST", `/v1/api-keys/${encodeURIComponent(rotating.id)}/rotate`, {
        grace_period_minutes: minutes,
      });
      rotateDialog.close();
      reveal(rotated, minutes);
      load();
    } catch (err) {
      showMessage(rotateError, ctx.describeError(err));
      if (err instanceof ApiError && (err.status === 404 || err.code === "key_revoked" || err.code === "key_expired")) load();
    } finally {
      submit.disabled = false;
    }
  });
  rotateDialog.addEventListener("close", () => {
    rotating = null;
  });

  function graceLabel(minutes) {
    const option = [...rotateGrace.options].find((o) => Number(o.value) === minutes);
    return option ? option.textContent : `${minutes} minutes`;
  }

  // ---- rename ------------------------------------------------------------------------------

  function openRename(key) {
    renaming = key;
    renameInput.value = key.name;
    showMessage(renameError, "");
    renameInput.removeAttribute("aria-invalid");
    ctx.openDialog(renameDialog, renameInput);
    renameInput.select();
  }

  renameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!renaming) return;
    showMessage(renameError, "");
    try {
      const updated = await ctx.call("PATCH", `/v1/api-keys/${encodeURIComponent(renaming.id)}`, {
        name: renameInput.value,
      });
      renameDialog.close();
      showMessage(message, `Key renamed to “${(updated && updated.name) || renameInput.value.trim()}”.`);
      load();
    } catch (err) {
      if (err instanceof ApiError && err.code === "validation_error") {
        renameInput.setAttribute("aria-invalid", "true");
        showMessage(
          renameError,
          renameInput.value.trim() ? "That name is too long. Use at most 64 characters." : "Enter a name for the key.",
        );
      } else {
        showMessage(renameError, ctx.describeError(err));
        if (err instanceof ApiError && (err.status === 404 || err.code === "key_revoked")) load();
      }
      renameInput.focus();
    }
  });
  renameDialog.addEventListener("close", () => {
    renaming = null;
  });

  // ---- revoke ------------------------------------------------------------------------------

  function confirmRevoke(key) {
    ctx.confirm({
      title: "Revoke this key?",
      text: `“${key.name}” (${key.hint}) will stop working at once: it can no longer be exchanged for tokens, and tokens already issued with it are refused. This cannot be undone.`,
      okLabel: "Revoke key",
      action: async () => {
        try {
          await ctx.call("DELETE", `/v1/api-keys/${encodeURIComponent(key.id)}`);
        } catch (err) {
          // Gone or revoked already: the list is what needs fixing, not the person's choice.
          if (!(err instanceof ApiError && (err.status === 404 || err.code === "key_revoked"))) throw err;
        }
        showMessage(message, `Key “${key.name}” was revoked.`);
        load();
      },
    });
  }

  function init() {
    generateButton.hidden = !ctx.isAdmin;
    generateButton.addEventListener("click", openGenerate);
    showRevoked.addEventListener("change", load);
  }

  return { init, load };
}

function capitalise(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}
