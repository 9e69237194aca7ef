// The UI's only way to the server: identity's JSON API, same origin, session cookie.
// Every rule (limits, roles, validation) is the API's; this module only carries requests and
// turns problem+json answers into sentences a person can act on.

export class ApiError extends Error {
  constructor(status, code, detail, problem) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.problem = problem;
  }

  // Names of the request fields a validation error points at, e.g. ["name"].
  fields() {
    const errors = (this.problem && Array.isArray(this.problem.errors)) ? this.problem.errors : [];
    return errors
      .map((e) => (Array.isArray(e.loc) ? e.loc.filter((p) => p !== "body" && p !== "query") : []))
      .map((loc) => String(loc[0] ?? ""))
      .filter(Boolean)
      .concat(this.problem && typeof this.problem.field === "string" ? [this.problem.field] : []);
  }

  retryAfterSeconds() {
    const value = this.problem && this.problem.retry_after;
    return Number.isFinite(value) ? value : null;
  }
}

export async function api(method, path, body) {
  const init = {
    method,
    // The session cookie is HttpOnly and SameSite=Strict; the browser adds it and the Origin
    // header of this page, which the API checks on every state-changing request.
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json, application/problem+json" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "Fireline cannot be reached. Check your connection and try again.");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data : {};
    const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    if (Number.isFinite(retry)) problem.retry_after = retry;
    throw new ApiError(response.status, problem.code || "", problem.detail || problem.title || "", problem);
  }
  return data;
}

// Plain words for the errors every screen can meet; screens handle their own cases first.
export function describeError(error) {
  if (!(error instanceof ApiError)) return "Something went wrong. Please try again.";
  switch (error.code) {
    case "network":
      return error.message;
    case "key_limit_reached":
      return "Your organization already has 10 active keys, the most allowed. Revoke a key you no longer use, then generate a new one.";
    case "forbidden":
      return "Only admins can do this.";
    case "key_revoked":
      return "This key has already been revoked. The list has been refreshed.";
    case "last_admin":
      return "This is the organization's only active admin. Make another user an admin first.";
    case "foreign_origin":
      return "This request came from another web address and was refused. Open Fireline directly and try again.";
    case "not_found":
      return "That item no longer exists. The list has been refreshed.";
    case "too_many_attempts": {
      const wait = error.retryAfterSeconds();
      return wait ? `Too many attempts. Try again in ${wait} seconds.` : "Too many attempts. Wait a minute and try again.";
    }
    default:
      break;
  }
  if (error.status === 403) return "Only admins can do this.";
  if (error.status >= 500) return "The server could not complete this. Please try again in a moment.";
  return error.detail || "The request was not accepted. Check the form and try again.";
}

// {date, time} in the person's locale and time zone, or null for no value.
export function formatDate(iso) {
  if (!iso) return null;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return { date: String(iso), time: "" };
  return {
    date: date.toLocaleDateString(undefined, { dateStyle: "medium" }),
    time: date.toLocaleTimeString(undefined, { timeStyle: "short" }),
  };
}

// Builds an element: el("td", {className: "x", dataset: {label: "Name"}}, "text", child).
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && !key.startsWith("aria")) node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function showMessage(node, text) {
  node.textContent = text || "";
  node.hidden = !text;
}
