# The Lambda runtime loop streamgate ships for python3.* functions: it imports the handler
# named by _HANDLER (module.function) from LAMBDA_TASK_ROOT and serves invocations from the
# Runtime API (AWS_LAMBDA_RUNTIME_API) as Lambda's own runtime does: the context object,
# logging lines with the request id, errors reported as {errorType, errorMessage, stackTrace}.
# Two things stand in for what Lambda's sandbox gives: boto3 comes from streamgate's cache, and
# HTTPS requests to the API's own endpoint (built from the event) reach the local server in
# plain HTTP.
import http.client
import importlib
import importlib.abc
import importlib.machinery
import json
import logging
import os
import sys
import time
import traceback

env = os.environ
API = env["AWS_LAMBDA_RUNTIME_API"]
ROOT = env.get("LAMBDA_TASK_ROOT", os.getcwd())
HANDLER = env.get("_HANDLER", "")
SDK = env.pop("_STREAMGATE_SDK", "")
LOCAL_ENDPOINT = env.pop("_STREAMGATE_API_ENDPOINT", "")
LOCAL_HOSTS = set(h for h in env.pop("_STREAMGATE_API_HOSTS", "").split(",") if h)
sys.path[:0] = [ROOT]
if SDK:
    sys.path.insert(1, SDK)

request_id = None


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = request_id
        return True


def _logging():
    handler = logging.StreamHandler(sys.stdout)
    if env.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON":
        class JsonFormatter(logging.Formatter):
            def format(self, record):
                return json.dumps({
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                    "level": record.levelname,
                    "message": record.getMessage(),
                    "logger": record.name,
                    "requestId": record.aws_request_id,
                })
        handler.setFormatter(JsonFormatter())
        level = env.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper()
    else:
        handler.setFormatter(logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S"))
        handler.formatter.converter = time.gmtime
        level = "WARNING"
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)


def _redirect(module):
    """botocore sends every request through URLLib3Session.send: one to the API's own
    endpoint goes to the local server in plain HTTP (the signature is not checked there)."""
    from urllib.parse import urlsplit, urlunsplit

    local = urlsplit(LOCAL_ENDPOINT)
    original = module.URLLib3Session.send

    def send(self, request):
        url = urlsplit(request.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        if url.scheme == "https" and f"{(url.hostname or '').lower()}:{port}" in LOCAL_HOSTS:
            request.url = urlunsplit(("http", local.netloc, url.path, url.query, url.fragment))
            if "Host" in request.headers:
                del request.headers["Host"]
            request.headers["Host"] = local.netloc
        return original(self, request)

    module.URLLib3Session.send = send


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches botocore.httpsession when (and only if) the function imports it."""

    def find_spec(self, name, path, target=None):
        if name != "botocore.httpsession":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            _redirect(module)

        spec.loader.exec_module = exec_module
        return spec


if LOCAL_ENDPOINT:
    sys.meta_path.insert(0, _PatchOnImport())

_connection = http.client.HTTPConnection(API)


def call(method, route, body=None, headers=None):
    global _connection
    data = None if body is None else json.dumps(body).encode()
    h = dict(headers or {})
    if data is not None:
        h["Content-Type"] = "application/json"
    for attempt in (0, 1):
        try:
            _connection.request(method, "/2018-06-01/runtime/" + route, body=data, headers=h)
            response = _connection.getresponse()
            return response.status, response.headers, response.read()
        except (http.client.HTTPException, ConnectionError):
            _connection.close()
            _connection = http.client.HTTPConnection(API)
            if attempt:
                raise


def error_of(e, error_type=None):
    return {
        "errorMessage": str(e),
        "errorType": error_type or type(e).__name__,
        "requestId": request_id or "",
        # The function's frames, not this loop's (as Lambda shows them).
        "stackTrace": traceback.format_list(
            [f for f in traceback.extract_tb(e.__traceback__) if f.filename != __file__]),
    }


def init_error(e, error_type):
    body = error_of(e, error_type)
    print("[ERROR] %s: %s" % (error_type, body["errorMessage"]), file=sys.stderr, flush=True)
    call("POST", "init/error", body, {"Lambda-Runtime-Function-Error-Type": error_type})
    sys.exit(1)


def load_handler():
    module_name, _, function_name = HANDLER.rpartition(".")
    if not module_name:
        init_error(ValueError(f"Bad handler '{HANDLER}': expected module.function"),
                   "Runtime.MalformedHandlerName")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except SyntaxError as e:
        init_error(e, "Runtime.UserCodeSyntaxError")
    except ImportError as e:
        init_error(Exception(f"Unable to import module '{module_name}': {e}"),
                   "Runtime.ImportModuleError")
    except Exception as e:  # noqa: BLE001 - the module's own init failed
        init_error(e, type(e).__name__)
    fn = getattr(module, function_name, None)
    if not callable(fn):
        init_error(Exception(f"Handler '{function_name}' missing on module '{module_name}'"),
                   "Runtime.HandlerNotFound")
    return fn


class _MarshalError(Exception):
    """A result JSON cannot hold (Lambda's Runtime.MarshalError)."""


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline - int(time.time() * 1000))


def main():
    global request_id
    _logging()
    handler = load_handler()
    while True:
        _, headers, body = call("GET", "invocation/next")
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            env["_X_AMZN_TRACE_ID"] = trace
        try:
            result = handler(json.loads(body), Context(headers))
            try:
                json.dumps(result)
            except (TypeError, ValueError) as e:
                raise _MarshalError(f"Unable to marshal response: {e}") from None
            call("POST", f"invocation/{request_id}/response", result)
        except Exception as e:  # noqa: BLE001 - the function's error is the invocation's
            report = error_of(e, "Runtime.MarshalError" if isinstance(e, _MarshalError) else None)
            print("[ERROR] %s: %s\n%s" % (report["errorType"], report["errorMessage"],
                                          "".join(report["stackTrace"])),
                  file=sys.stderr, flush=True)
            call("POST", f"invocation/{request_id}/error", report,
                 {"Lambda-Runtime-Function-Error-Type": "Unhandled"})
        request_id = None
        sys.stdout.flush()


main()
