"""DashScope operations (submit, query, cancel, list, upload policy) with their retry policies."""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional

from . import retry
from .console import Console
from .context import Context
from .errors import ApiError
from .transport import NoResponse, NotSent, Response, Transport, TransportError, Unsendable, proxy_secrets

MODEL_MARKET_URL = "https://www.qianwenai.com/models"
MAX_LIST_PAGES = 10
NOT_ACTIVATED_WORDS = ("not activated", "not subscribed", "not enabled", "unpurchased",
                       "eligible for using the model")


class AmbiguousSubmit(Exception):
    """The create request went out and no answer came back: a task may exist."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class DashScope:
    def __init__(self, ctx: Context, console: Console, key: str, base_url: str,
                 transport: Optional[Transport] = None):
        self.ctx = ctx
        self.console = console
        self.key = key
        self.base_url = base_url.rstrip("/")
        self.transport = transport or Transport(ctx)
        console.redactor.add(key, *proxy_secrets(ctx))

    # -- the retry loop -----------------------------------------------------------------
    def send(self, op: str, method: str, url: str, headers: Optional[Dict[str, str]] = None,
             body: Optional[bytes] = None, body_factory: Optional[Callable[[], Any]] = None,
             length: Optional[int] = None, timeout: Optional[float] = None,
             progress: Optional[Callable[[int], None]] = None, want_json: bool = False) -> Response:
        """Send with the operation's retry policy; return the last response (any status).

        want_json (reads only): a 2xx whose body is not a JSON object (a proxy's page, a
        truncated answer) is treated like a transient error and tried again.

        Transport errors that the policy does not retry are re-raised for the caller, who
        knows what they mean (for a create, NoResponse means "maybe submitted").
        """
        policy = retry.POLICIES[op]
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            payload = body_factory() if body_factory is not None else body
            try:
                resp = self.transport.request(method, url, headers, payload, length, timeout, progress)
            except TransportError as exc:
                allowed = policy.retry_not_sent if isinstance(exc, NotSent) else policy.retry_no_response
                if isinstance(exc, Unsendable):
                    allowed = False  # the same request would be refused the same way
                delay = retry.backoff(policy, attempt - 1)
                if not allowed or attempt >= policy.attempts or waited + delay > policy.max_total:
                    raise
                self.console.info("%s: %s; retrying in %.1fs (%d/%d)"
                                  % (policy.name, exc, delay, attempt, policy.attempts - 1))
            else:
                garbled = want_json and resp.status < 300 and not isinstance(resp.json(), dict)
                if resp.status < 300 and not garbled:
                    return resp
                code = _api_code(resp)
                retryable = garbled or resp.status in policy.statuses or (
                    op == "create" and retry.create_refused(resp.status, code))
                hinted = retry.parse_retry_after(resp.headers.get("retry-after"), self.ctx.wall_clock())
                delay = hinted if hinted is not None else retry.backoff(policy, attempt - 1)
                if not retryable or attempt >= policy.attempts or waited + delay > policy.max_total:
                    return resp
                self.console.info("%s: HTTP %d%s; retrying in %.1fs (%d/%d)"
                                  % (policy.name, resp.status,
                                     " with a body that is not JSON" if garbled else (" " + code if code else ""),
                                     delay, attempt, policy.attempts - 1))
            self.ctx.sleep(delay)
            waited += delay

    def _headers(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        headers = {"Authorization": "Bearer " + self.key}
        headers.update(extra or {})
        return headers

    def _json_or_raise(self, resp: Response, what: str, model: Optional[str] = None,
                       task_id: Optional[str] = None) -> Dict[str, Any]:
        if resp.status != 200:
            raise api_error(resp, what, model=model, task_id=task_id)
        document = resp.json()
        if not isinstance(document, dict):
            raise ApiError("%s: the service answered HTTP 200 with a body that is not JSON" % what,
                           hint="a proxy or captive portal may be in the way; check HTTPS_PROXY/NO_PROXY",
                           status=resp.status, task_id=task_id)
        return document

    # -- operations ---------------------------------------------------------------------
    def submit(self, route: str, body: Dict[str, Any], oss_resolve: bool) -> Dict[str, Any]:
        """POST the create call once (retried only when provably not received)."""
        headers = self._headers({"Content-Type": "application/json", "X-DashScope-Async": "enable"})
        if oss_resolve:
            headers["X-DashScope-OssResourceResolve"] = "enable"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            resp = self.send("create", "POST", self.base_url + route, headers, data, timeout=60.0)
        except NoResponse as exc:
            raise AmbiguousSubmit(str(exc)) from None
        except Unsendable as exc:
            raise ApiError("the submit was not sent: %s" % exc,
                           hint="check DASHSCOPE_HTTP_BASE_URL/QWEN_BASE_URL and the API key") from None
        except NotSent as exc:
            raise ApiError("could not reach DashScope: %s" % exc, hint=network_hint(exc)) from None
        if resp.status >= 500 and not _api_code(resp):
            # A gateway error page: the request may have reached the service behind it.
            raise AmbiguousSubmit("HTTP %d from a gateway, not from DashScope" % resp.status)
        if resp.status < 300:
            # Accepted: a task exists even if this answer cannot be read (a proxy rewrote it,
            # the body was cut). Never report "failed" here: the user would pay twice.
            document = resp.json()
            output = document.get("output") if isinstance(document, dict) else None
            task_id = output.get("task_id") if isinstance(output, dict) else None
            if not isinstance(task_id, str) or not task_id.strip():
                raise AmbiguousSubmit("HTTP %d whose body carries no task_id" % resp.status)
            return document
        return self._json_or_raise(resp, "submit", model=body.get("model"))

    def get_task(self, task_id: str) -> Dict[str, Any]:
        try:
            resp = self.send("query", "GET", "%s/tasks/%s" % (self.base_url, _quoted(task_id)), self._headers(),
                             timeout=30.0, want_json=True)
        except TransportError as exc:
            raise ApiError("could not read task %s: %s" % (task_id, exc), hint=network_hint(exc),
                           task_id=task_id) from None
        return self._json_or_raise(resp, "task query", task_id=task_id)

    def cancel(self, task_id: str) -> Dict[str, Any]:
        try:
            resp = self.send("cancel", "POST", "%s/tasks/%s/cancel" % (self.base_url, _quoted(task_id)),
                             self._headers(), timeout=30.0)
        except TransportError as exc:
            raise ApiError("could not cancel task %s: %s" % (task_id, exc), hint=network_hint(exc),
                           task_id=task_id) from None
        return self._json_or_raise(resp, "cancel", task_id=task_id)

    def list_tasks(self, model: Optional[str], start: str, end: str, page_size: int = 50) -> List[Dict[str, Any]]:
        """Tasks created in [start, end] (YYYYMMDDhhmmss), newest pages included."""
        from urllib.parse import urlencode

        found: List[Dict[str, Any]] = []
        page = 1
        while True:
            query = {"start_time": start, "end_time": end, "page_no": page, "page_size": page_size}
            if model:
                query["model_name"] = model
            try:
                resp = self.send("query", "GET", "%s/tasks?%s" % (self.base_url, urlencode(query)),
                                 self._headers(), timeout=30.0, want_json=True)
            except TransportError as exc:
                raise ApiError("could not read the task list: %s" % exc, hint=network_hint(exc)) from None
            document = self._json_or_raise(resp, "task list")
            data = document.get("data")
            data = data if isinstance(data, list) else []
            found.extend(item for item in data if isinstance(item, dict)
                         and isinstance(item.get("task_id"), str) and item["task_id"])
            try:
                total_pages = int(document.get("total_page") or 1)
            except (TypeError, ValueError):
                total_pages = 1
            if page >= total_pages or not data:
                return found
            if page >= MAX_LIST_PAGES:
                raise ApiError("could not check every task: the task list has %d pages and only %d were read"
                               % (total_pages, MAX_LIST_PAGES),
                               hint="too many tasks were created around that moment to tell which one is yours")
            page += 1

    def upload_policy(self, model: str) -> Dict[str, Any]:
        from urllib.parse import urlencode

        url = "%s/uploads?%s" % (self.base_url, urlencode({"action": "getPolicy", "model": model}))
        try:
            resp = self.send("upload-policy", "GET", url,
                             self._headers({"Content-Type": "application/json"}), timeout=30.0,
                             want_json=True)
        except TransportError as exc:
            raise ApiError("could not get an upload policy: %s" % exc, hint=network_hint(exc)) from None
        document = self._json_or_raise(resp, "upload policy", model=model)
        data = document.get("data")
        if not isinstance(data, dict) or not data.get("upload_host"):
            raise ApiError("upload policy answer has no data.upload_host: %s" % resp.text[:300])
        return data


def _quoted(task_id: str) -> str:
    """A task id as one path segment: never a query, a fragment or another path."""
    from urllib.parse import quote

    return quote(task_id, safe="")


def _api_code(resp: Response) -> Optional[str]:
    document = resp.json()
    if isinstance(document, dict):
        code = document.get("code")
        if isinstance(code, str) and code:
            return code
    return None


def api_error(resp: Response, what: str, model: Optional[str] = None,
              task_id: Optional[str] = None) -> ApiError:
    """Turn a non-200 answer into one clear message with the right hint."""
    document = resp.json()
    if isinstance(document, dict) and (document.get("code") or document.get("message") or document.get("msg")):
        code = str(document.get("code") or "")
        message = str(document.get("message") or document.get("msg") or "")
        text = "%s failed: HTTP %d %s: %s" % (what, resp.status, code, message)
    else:
        code, message = "", ""
        kind = resp.headers.get("content-type", "unknown content type").split(";")[0]
        first = " ".join(resp.text.split())[:160]
        text = "%s failed: HTTP %d from %s, not a DashScope answer (%s): %s" % (
            what, resp.status, _host(resp.url), kind, first)
    return ApiError(text, hint=error_hint(resp.status, code, message, model), status=resp.status,
                    api_code=code or None, task_id=task_id)


def error_hint(status: int, code: str, message: str, model: Optional[str]) -> Optional[str]:
    lowered = (code + " " + message).lower()
    if status == 401:
        return ("check the API key (QIANWEN_API_KEY/DASHSCOPE_API_KEY): keys belong to one region, "
                "so the key, the model and QWEN_REGION/DASHSCOPE_HTTP_BASE_URL must match")
    if "synchronous calls" in lowered:
        return "the create call needs the header X-DashScope-Async: enable (a proxy may be stripping it)"
    if any(word in lowered for word in NOT_ACTIVATED_WORDS):
        return ('model "%s" is not activated on this account: open %s, find the model and click '
                '"Enable" / "开通"' % (model or "?", MODEL_MARKET_URL))
    if "url error" in lowered or "model not exist" in lowered:
        return ("the model id is unknown here or belongs to another route or region; "
                "see `video.py --list-models` and QWEN_REGION")
    if "datainspection" in lowered.replace(".", "").replace("_", ""):
        return "an input URL or file was rejected; oss:// URLs need the upload model to match the task model"
    if "url does not appear to be valid" in lowered:  # 400 invalid_parameter_error (temporary-upload page)
        return ("an oss:// URL is valid for 48 h and only for the model it was uploaded for; pass the local "
                "file instead and it is uploaded for %s" % (model or "this model"))
    if code == "InvalidURL":
        return "every media field needs a public http(s) URL, an oss:// URL or a local file path that exists"
    if status == 429:
        return "rate limited: wait a minute and retry (limits are per model; see references/polling-guide.md)"
    if "arrearage" in lowered:
        return "the account is in arrears: top up in the Model Studio console"
    if status >= 500:
        return "the service had a problem: wait and retry"
    return None


def network_hint(exc: BaseException) -> str:
    text = str(exc).lower()
    if "certificate" in text or "tls" in text or "ssl" in text:
        return ("TLS verification failed: behind a corporate proxy set SSL_CERT_FILE to its CA bundle "
                "(macOS: run 'Install Certificates.command')")
    if "dns" in text or "refused" in text or "connect" in text:
        return "check the network; behind a proxy set HTTPS_PROXY (and NO_PROXY for local hosts)"
    return "the network dropped; check the connection and HTTPS_PROXY"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url
