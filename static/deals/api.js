// Talking to the JSON API: GETs with the caller's If-None-Match, POSTs with the CSRF token,
// and failures in an operator's words.

export class ApiError extends Error {}

// What went wrong, in an operator's words (the status code is for the logs, not people).
export function trouble(status) {
  if (status === 401 || status === 403) return "your session has ended; reload the page to log in again";
  if (status === 404) return "it is not there any more";
  if (status >= 500) return "the server had a problem; it may pass in a moment";
  return "the server refused the request";
}

export async function getJson(url, headers = {}) {
  let response;
  try {
    response = await fetch(url, {
      headers: { Accept: "application/json", ...headers },
      credentials: "same-origin",
      cache: "no-store", // we send If-None-Match ourselves
    });
  } catch (error) {
    throw new ApiError("the server cannot be reached; check the connection");
  }
  if (response.status !== 304 && !response.ok) {
    const error = new ApiError(trouble(response.status));
    error.status = response.status;
    throw error;
  }
  return response;
}

export async function post(url, body, csrf) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrf };
  if (body) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers,
      credentials: "same-origin",
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (error) {
    return { ok: false, message: "Not sent: the server cannot be reached. Check the connection and try again." };
  }
  const answer = await response.json().catch(() => ({}));
  if (response.ok) return { ok: true, answer };
  // Refusals (a deal that changed meanwhile, a filter too wide) come with the reason.
  const reason = response.status === 409 || response.status === 400
    ? answer.detail || Object.values(answer).flat().join(" ")
    : `Not done: ${trouble(response.status)}.`;
  return { ok: false, message: reason || "Not done." };
}
