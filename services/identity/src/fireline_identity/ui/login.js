import { api, ApiError, describeError, showMessage } from "./api.js";

const form = document.getElementById("login-form");
const email = document.getElementById("login-email");
const password = document.getElementById("login-password");
const error = document.getElementById("login-error");
const notice = document.getElementById("login-notice");

const reason = new URLSearchParams(window.location.search).get("reason");
if (reason === "expired") showMessage(notice, "Your session has ended. Please log in again.");
if (reason === "logged-out") showMessage(notice, "You have logged out.");

// The email field is focused by its autofocus attribute, as the page is parsed. Focusing it
// here, once this module ran, took the focus back from a field already being typed into: a
// password typed early ended up after the email.

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showMessage(error, "");
  if (!email.value.trim() || !password.value) {
    // Nothing to ask the server yet; say what is missing.
    showMessage(error, "Enter your email and password.");
    (email.value.trim() ? password : email).focus();
    return;
  }
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    await api("POST", "/v1/session", { email: email.value.trim(), password: password.value });
    window.location.replace("/ui/app");
  } catch (err) {
    password.value = "";
    if (err instanceof ApiError && (err.status === 401 || err.code === "invalid_credentials")) {
      showMessage(error, "The email or password is not correct.");
    } else {
      showMessage(error, describeError(err));
    }
    password.focus();
  } finally {
    submit.disabled = false;
  }
});

// The button starts disabled: clicked before this script ran, the form would be posted by the
// browser itself, and with no referrer that post carries "Origin: null", which the origin guard
// refuses with a bare 403 (a slow page load on a busy machine did just that).
form.querySelector("button[type=submit]").disabled = false;
