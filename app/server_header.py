"""No server banner on the wire: gunicorn writes `Server: gunicorn` itself, below the WSGI app,
so neither a response header set by the app nor a WSGI middleware can remove it. Its response
class is patched instead, once per process, from create_app() (which every gunicorn worker runs,
whatever its configuration file says)."""


def hide():
    try:
        from gunicorn.http import wsgi
    except ImportError:  # served by something else: nothing to hide here
        return
    original = wsgi.Response.default_headers
    if getattr(original, "hides_server", False):
        return

    def default_headers(self):
        return [line for line in original(self) if not line.lower().startswith("server:")]

    default_headers.hides_server = True
    wsgi.Response.default_headers = default_headers
