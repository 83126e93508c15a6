// Credentials inside URLs (http://user:password@proxy, ?key=…) never leave the process in an
// error message, a log line, the start-up banner or `config check`.

/** Query parameters whose values are secrets in the URLs people put in configs. */
const SECRET_PARAMS =
  /^(key|api[-_]?key|token|access[-_]?token|secret|password|passwd|pwd|sig|signature|x-amz-signature|x-amz-security-token|x-goog-signature)$/i;

/** A URL with its user info and secret query values replaced by "***". Not a URL: unchanged. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return redactText(url);
  }
  let changed = false;
  if (u.username || u.password) {
    u.username = '***';
    u.password = '';
    changed = true;
  }
  for (const k of [...u.searchParams.keys()]) {
    if (SECRET_PARAMS.test(k)) {
      u.searchParams.set(k, '***');
      changed = true;
    }
  }
  if (!changed) return url;
  // Keep the operator's spelling (no trailing slash added) where the path was empty.
  const s = u.toString();
  return !url.endsWith('/') && u.pathname === '/' && !u.search && s.endsWith('/') ? s.slice(0, -1) : s;
}

/** Free text (an error message from a library, a log line): user info in any URL is masked. */
export function redactText(text: string): string {
  return text.includes('@') ? text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi, '$1***@') : text;
}
