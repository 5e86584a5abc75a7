"""DashScope operations (submit, query, cancel, list, upload policy) with their retry policies."""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, List, Optional

from . import retry
from .. import catalog, config
from ..console import Console
from ..context import Context
from ..errors import ApiError
from .transport import NoResponse, NotSent, Response, Transport, TransportError, Unsendable, proxy_secrets

MODEL_MARKET_URL = "https://www.qianwenai.com/models"
MAX_LIST_PAGES = 10
NOT_ACTIVATED_WORDS = ("not activated", "not subscribed", "not enabled", "unpurchased",
                       "eligible for using the model")
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")  # the same rule as --task-id
POLICY_TEXT_FIELDS = ("upload_host", "upload_dir", "policy", "signature", "oss_access_key_id")
POLICY_NUMBER_FIELDS = ("expire_in_seconds", "max_file_size_mb")


class AmbiguousSubmit(Exception):
    """The create request went out and no usable answer came back: a task may exist.

    The caller looks the task up (task list) before anything is sent again."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def valid_task_id(value: Any) -> bool:
    """A server-given task id that is safe in a URL path segment and a file name: letters,
    digits, '_', '.', '-' (128 at most), starting with a letter or digit (so never '.'/'..')."""
    return isinstance(value, str) and bool(TASK_ID.match(value)) and value not in (".", "..")


def json_object(resp: Response) -> Optional[str]:
    """A check for retry.call: why a 2xx answer is not a JSON object, or None."""
    if resp.unreadable:
        return resp.unreadable
    return None if isinstance(resp.json(), dict) else "a body that is not JSON"


def task_document(resp: Response) -> Optional[str]:
    """A check for retry.call: why a 2xx answer is not a task document, or None. Only a dict
    whose ``output`` is a dict with a non-empty string ``task_status`` is one."""
    problem = json_object(resp)
    if problem:
        return problem
    output = resp.json().get("output")
    status = output.get("task_status") if isinstance(output, dict) else None
    if not isinstance(status, str) or not status.strip():
        return "a malformed task (no output.task_status)"
    return None


class DashScope:
    def __init__(self, ctx: Context, console: Console, key: str, base_url: str,
                 transport: Optional[Transport] = None):
        self.ctx = ctx
        self.console = console
        self.key = key
        self.base_url = base_url.rstrip("/")
        self.transport = transport or Transport(ctx, console=console)
        console.redactor.add(key, *proxy_secrets(ctx))
        for user, password in config.proxy_credentials(ctx.environ):  # and the Basic token made of them
            console.redactor.add_credentials(user, password)

    def on_answer(self, observer: Callable[[str, str, int], None]) -> None:
        """``observer(method, url, status)`` for every answer to a DashScope call, as it arrives,
        before any retry (batch pacing: count the 429s). Downloads and uploads to other hosts
        are left out."""
        base = self.base_url

        def mine(method: str, url: str, status: int) -> None:
            if url.startswith(base + "/") or url == base:
                observer(method, url, status)

        self.transport.add_observer(mine)

    # -- the retry loop -----------------------------------------------------------------
    def send(self, op: str, method: str, url: str, headers: Optional[Dict[str, str]] = None,
             body: Optional[bytes] = None, body_factory: Optional[Callable[[], Any]] = None,
             length: Optional[int] = None, timeout: Optional[float] = None,
             progress: Optional[Callable[[int], None]] = None, want_json: bool = False,
             check: Optional[retry.Check] = None) -> Response:
        """retry.call with this client's transport and console (want_json: check=json_object)."""
        if want_json and check is None:
            check = json_object
        return retry.call(self.transport, op, method, url, headers, body, body_factory, length, timeout,
                          progress, check=check, say=self.console.info)

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
            raise ApiError("%s: the service answered HTTP 200 with %s" % (what, resp.unreadable or "a body that is not JSON"),
                           hint="a proxy or captive portal may be in the way; check HTTPS_PROXY/NO_PROXY",
                           status=resp.status, task_id=task_id)
        return document

    # -- operations ---------------------------------------------------------------------
    def submit(self, route: str, body: Dict[str, Any], oss_resolve: bool) -> Dict[str, Any]:
        """POST the create call once (retried only when provably not received, or throttled).

        Outcomes: the answer document (its output.task_id checked with valid_task_id); ApiError
        when no task was created (not sent, or a 4xx/429 answer); AmbiguousSubmit whenever the
        request went out and no usable answer came back (no answer, a cut, huge, garbled or
        id-less 2xx, any 5xx, a 3xx): the caller looks the task up, never resends.
        """
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
        except (TransportError, ApiError):
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. MemoryError while reading the answer
            # The request may have gone out: only a lookup can tell whether a task exists.
            raise AmbiguousSubmit("the answer could not be read (%s)" % exc.__class__.__name__) from None
        return self._created(resp, body.get("model"))

    def _created(self, resp: Response, model: Any) -> Dict[str, Any]:
        if resp.status < 300:
            # Accepted: a task exists even if this answer cannot be used (a proxy rewrote it,
            # the body was cut, huge or nested too deep). Never report "failed" here: the user
            # would pay twice.
            document = resp.json()
            output = document.get("output") if isinstance(document, dict) else None
            task_id = output.get("task_id") if isinstance(output, dict) else None
            if task_id is None or (isinstance(task_id, str) and not task_id.strip()):
                raise AmbiguousSubmit("HTTP %d whose body carries no task_id%s"
                                      % (resp.status, " (%s)" % resp.unreadable if resp.unreadable else ""))
            if not valid_task_id(task_id):
                raise AmbiguousSubmit("HTTP %d whose task_id is not a valid task id" % resp.status)
            return document
        if not retry.create_refused(resp.status):
            # A 5xx (even with a DashScope error code) or a 3xx may come after the service
            # created the task: look it up before any retry.
            code = resp.error_code()
            raise AmbiguousSubmit("HTTP %d%s%s" % (
                resp.status, " " + code if code else "",
                " from a gateway, not from DashScope" if resp.status >= 500 and not code else
                ": the service may have created the task"))
        return self._json_or_raise(resp, "submit", model=model if isinstance(model, str) else None)

    def face_check(self, body: Dict[str, Any], oss_resolve: bool) -> Dict[str, Any]:
        """The synchronous portrait check some models need before a task is paid (wan2.2-s2v-detect,
        dashscope-new-models.md §3): unbilled and creates nothing. The answer document; ApiError
        on an error answer (HTTP 400 InvalidFile.NoHuman: no usable face)."""
        headers = self._headers({"Content-Type": "application/json"})
        if oss_resolve:
            headers["X-DashScope-OssResourceResolve"] = "enable"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            resp = self.send("detect", "POST", self.base_url + catalog.FACE_DETECT_ROUTE, headers, data,
                             timeout=60.0, want_json=True)
        except TransportError as exc:
            raise ApiError("could not check the portrait: %s" % exc, hint=network_hint(exc)) from None
        return self._json_or_raise(resp, "portrait check", model=body.get("model"))

    def get_task(self, task_id: str) -> Dict[str, Any]:
        """The task document: always a dict whose output is a dict with a non-empty string
        task_status. A malformed answer is a failed poll (retried within the query policy),
        then an ApiError that says so: never a document to be read as a final state."""
        try:
            resp = self.send("query", "GET", "%s/tasks/%s" % (self.base_url, _quoted(task_id)), self._headers(),
                             timeout=30.0, check=task_document)
        except TransportError as exc:
            raise ApiError("could not read task %s: %s" % (task_id, exc), hint=network_hint(exc),
                           task_id=task_id) from None
        document = self._json_or_raise(resp, "task query", task_id=task_id)
        problem = task_document(resp)
        if problem:
            raise ApiError("task query: the service answered HTTP %d with %s for task %s"
                           % (resp.status, problem, task_id),
                           hint="a proxy may be rewriting answers; check the task again later",
                           status=resp.status, task_id=task_id)
        return document

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
            # An id that is not a valid task id is never returned: it would reach a path or a URL.
            found.extend(item for item in data if isinstance(item, dict) and valid_task_id(item.get("task_id")))
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
        problem = policy_problem(data)
        if problem:
            raise ApiError("the upload policy answer is malformed: %s; nothing was uploaded" % problem,
                           hint="a proxy may be rewriting answers; try again, or pass public https:// URLs",
                           status=resp.status)
        return data


def policy_problem(data: Any) -> Optional[str]:
    """Why an upload policy's ``data`` cannot be used (field names only, never values), or None."""
    from urllib.parse import urlsplit

    if not isinstance(data, dict):
        return "no data object"
    for name in POLICY_TEXT_FIELDS:
        if not isinstance(data.get(name), str) or not data[name].strip():
            return "data.%s is missing or not text" % name
    for name in POLICY_NUMBER_FIELDS:  # numbers or numeric strings (dashscope-api.md §5: both occur)
        value = data.get(name)
        if value is None:
            continue
        try:
            number = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else 0.0
        except ValueError:
            number = 0.0
        if not 0 < number < float("inf"):
            return "data.%s is not a positive number" % name
    if urlsplit(data["upload_host"]).scheme not in ("http", "https"):
        return "data.upload_host is not an http(s) URL"
    return None


def _quoted(task_id: str) -> str:
    """A task id as one path segment: never a query, a fragment or another path."""
    from urllib.parse import quote

    return quote(task_id, safe="")


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
    if "to the proxy" in text:
        return ("the proxy in HTTPS_PROXY/HTTP_PROXY is not answering: start it or fix its address, or unset "
                "the variable (NO_PROXY lists hosts that bypass it)")
    if "dns" in text or "refused" in text or "connect" in text:
        return "check the network; behind a proxy set HTTPS_PROXY (and NO_PROXY for local hosts)"
    return "the network dropped; check the connection and HTTPS_PROXY"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url
