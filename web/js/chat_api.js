// POST {apiEndpoint}/chat, as the course's web UI does, with a stop button behind an AbortController.
export class ChatError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export async function sendChat({ apiEndpoint, idToken, message, history, signal }) {
  const url = apiEndpoint.replace(/\/+$/, "") + "/chat";
  const headers = { "Content-Type": "application/json" };
  if (idToken) headers.Authorization = idToken;
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({ message, conversationHistory: history }),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ChatError(null, 0); // network failure: the caller shows a translated message
  }
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  if (!response.ok || body.success === false) {
    throw new ChatError(body.error || body.message || `HTTP ${response.status}`, response.status);
  }
  return body;
}
