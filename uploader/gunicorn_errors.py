"""gunicorn's own error answers, as problem+json like every other error of the API.

gunicorn answers some requests before the app sees them: a malformed request
line or header (400), a request line over ``limit_request_line`` (414), too
many or too long header fields (431), an unsupported transfer coding (501),
and 500 when the app raised past Falcon. ``Worker.handle_error`` picks the
status and message, then calls ``gunicorn.util.write_error(sock, status,
reason, message)``, which writes a ``text/html`` page. gunicorn has no setting
or hook for that body (gunicorn 23 to 27), so :func:`install` replaces that one
function; the status, the reason and ``Connection: close`` stay gunicorn's.

These problems have no ``instance`` (RFC 9457 makes it optional): gunicorn refuses while it is
still parsing the request line or the headers, before there is a request object, so the path
is not known reliably (``handle_error`` gets ``req=None`` for 400, 414 and 431).
"""

from __future__ import annotations

import json
import re

from gunicorn import util

from uploader.problems import PROBLEM_TYPE_BASE, slug_of


#: gunicorn's LimitRequestLine text: ``Request Line is too large (<bytes read so far> > <limit>)``.
_LINE_TOO_LONG = re.compile(r"Request Line is too large \((\d+) > (\d+)\)")


def detail(status: int, message: str) -> str:
    """The problem's ``detail`` for gunicorn's ``message``: gunicorn's own words, except where they mislead.

    * 414: gunicorn gives the bytes it had read when it stopped (``8192 > 4094``), not the line's
      length; the detail gives the limit only.
    * 400 for a request line with bytes outside ASCII (raw UTF-8 in the query, as curl sends it):
      gunicorn echoes the line decoded as latin-1 (``Ã©``); the detail says what to send instead.
    """
    too_long = _LINE_TOO_LONG.fullmatch(message)
    if status == 414 and too_long:
        return f"the request line is longer than {too_long.group(2)} bytes"
    if status == 400 and "request line" in message.lower() and not message.isascii():
        return ("the request line has bytes outside ASCII: percent-encode them in the path and the query "
                "(RFC 3986, 2.1; UTF-8 for non-ASCII text, so \u00e9 is %C3%A9)")
    return message


def problem_response(status: int, reason: str, message: str) -> bytes:
    """The whole HTTP/1.1 answer (head and body, bytes) for gunicorn's refusal.

    ``status``/``reason`` are gunicorn's (e.g. 414, "URI Too Long"); ``message``
    (possibly empty) becomes ``detail``. The body is an RFC 9457 problem object
    whose ``type`` ends in the reason's slug (``.../problems/uri-too-long``).
    """
    problem = {"type": PROBLEM_TYPE_BASE + slug_of(reason), "title": reason, "status": status}
    if message:
        problem["detail"] = detail(status, message)
    body = json.dumps(problem).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error`` (same arguments): write :func:`problem_response`."""
    util.write_nonblock(sock, problem_response(status_int, reason, mesg))


def install() -> None:
    """Make gunicorn's workers answer their own refusals as problem+json (call before the workers fork)."""
    util.write_error = write_problem
