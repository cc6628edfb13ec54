"""The admin web server of the running firmware, sans-I/O: one request in, one response out.

The runtime's HTTP server parses requests (and decodes HTTP Basic credentials) and calls
``Firmware.http``, which lands here. Paths (firmware/README.md, *Admin HTTP*):

=================================  ======  ==========================================
``/``                              admin   the home page: name, model, versions, MAC, conference
                                           channels (``Conference n Channels``)
``/CMD0/box_info.xml``             open    model, versions, serial (Info is not protected)
``/!<command>``                    admin   the command line, GET only (``/!config%20show``)
``/cfg.txt``                       admin   the full config (:mod:`ipgwsim.firmware.fullconfig`)
``/log.txt``                       admin   the event log
``/upload/prot``, ``/upload/boot``  admin   an image as the body (PUT or POST): firmware, boot code
``/upload/config``                 admin   a full config as the body: loaded (422 without an
                                           ETH0 line unless ``?force=1``)
=================================  ======  ==========================================

Wrong or missing credentials get ``401`` with ``WWW-Authenticate: Basic`` and nothing runs;
after failed logins a client waits (``429``, :mod:`ipgwsim.firmware.logins`).
A refused command answers ``400`` with its ``error: ...`` line; an image that does not fit
answers ``507`` with ``Firmwareupdate failed:no space`` (Howto:Firmware Upgrade V12r1 V12r2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from ipgwsim.firmware.commands import CommandError
from ipgwsim.firmware.fullconfig import UnreachableConfig
from ipgwsim.firmware.logins import PasswordCheck, Refused
from ipgwsim.flash.errors import FlashError, NoSpace, PowerLost
from ipgwsim.flash.image import ImageKind
from ipgwsim.proto.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from ipgwsim.firmware.context import AdminContext, DeviceInfo

__all__ = ["box_info", "checked", "handle", "refusal", "version_string"]

_UPLOADS = {"/upload/prot": ImageKind.FIRMWARE, "/upload/boot": ImageKind.BOOT}
_READ = ("GET", "HEAD")
_WRITE = ("PUT", "POST")


def version_string(firmware: DeviceInfo) -> str:
    """``<label> <MODEL>[<build>], Bootcode[<boot build>], HW[<serial>]``.

    The form is the one Reference9:Services/Update shows.

    DESIGN: the label is the build's first field as a version (``08-6000.08`` → ``8.00``);
    the hardware field carries the serial number (the vendor does not document it).
    """
    head = firmware.build.split("-", 1)[0]
    label = f"{int(head)}.00" if head.isdigit() else firmware.build
    boot = firmware.boot_build if firmware.boot_build is not None else "?"
    return (
        f"{label} ipgwsim {firmware.profile.model}[{firmware.build}], "
        f"Bootcode[{boot}], HW[{firmware.serial}]"
    )


def box_info(firmware: DeviceInfo) -> str:
    """The XML of ``/CMD0/box_info.xml`` (``<sys version=...>``, as update servers read it)."""
    name = firmware.active.get("CMD0", "name") or firmware.profile.model
    attrs = " ".join(
        f"{key}={quoteattr(value)}"
        for key, value in (
            ("version", version_string(firmware)),
            ("type", firmware.profile.model),
            ("serial", firmware.serial),
            ("hwid", firmware.hardware_id),
            ("name", name),
        )
    )
    return f'<?xml version="1.0" encoding="utf-8"?>\r\n<info><sys {attrs}/></info>\r\n'


def home_page(firmware: DeviceInfo) -> str:
    """The home page: what the device is, and ``Conference n Channels`` when the model has any
    (Reference9:PBX/Objects/Call Broadcast Conference: the number of local conference
    channels is shown there)."""
    name = firmware.active.get("CMD0", "name") or firmware.profile.model
    mac = ":".join(firmware.serial[i : i + 2] for i in range(0, len(firmware.serial), 2))
    rows = [
        ("Name", name),
        ("Type", firmware.profile.model),
        ("Version", version_string(firmware)),
        ("MAC", mac),
    ]
    channels = firmware.profile.conference.channels
    cells = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    conference = f"<p>Conference {channels} Channels</p>\r\n" if channels > 0 else ""
    return (
        f"<!DOCTYPE html>\r\n<html><head><title>{escape(name)}</title></head><body>\r\n"
        f"<h1>{escape(name)}</h1>\r\n<table>{cells}</table>\r\n{conference}</body></html>\r\n"
    )


def _unauthorized(firmware: DeviceInfo) -> HttpResponse:
    realm = firmware.profile.model
    return HttpResponse.text(
        401,
        "401 Unauthorized: admin credentials needed\r\n",
        headers=(("WWW-Authenticate", f'Basic realm="{realm}"'),),
    )


def _allowed(request: HttpRequest, methods: tuple[str, ...]) -> HttpResponse | None:
    if request.method in methods:
        return None
    return HttpResponse.text(
        405,
        f"405 {request.method} not allowed on {request.path}\r\n",
        headers=(("Allow", ", ".join(methods)),),
    )


def _methods(path: str) -> tuple[str, ...] | None:
    """The methods ``path`` takes; None for a path that does not exist."""
    if path in ("/", "/CMD0/box_info.xml", "/cfg.txt", "/log.txt"):
        return _READ
    if path.startswith("/!"):
        return ("GET",)  # a command is run once, never for a HEAD
    if path == "/upload/config" or path in _UPLOADS:
        return _WRITE
    return None


def refusal(firmware: AdminContext, request: HttpRequest) -> HttpResponse | PasswordCheck | None:
    """The answer to a request refused whatever its body (404, 405, 401, 429, 503), None
    (go on), or the :class:`PasswordCheck` to make first: tell :func:`checked` its result.

    The web server asks this before it reads a body: nobody uploads megabytes to a
    device without the admin's credentials. Whether a password is checked at all is
    :attr:`Firmware.logins`' decision (:mod:`ipgwsim.firmware.logins`); a refused attempt
    answers 429 (its client's failed logins) or 503 (the device's budget of checks) with
    ``Retry-After`` and a line that says how long to wait.
    """
    path = request.path
    methods = _methods(path)
    if methods is None:
        return HttpResponse.text(404, f"404 not found: {path}\r\n")
    refused = _allowed(request, methods)
    if refused is not None or path == "/CMD0/box_info.xml":
        return refused
    credentials = request.credentials
    if credentials is None:
        return _unauthorized(firmware)
    check = firmware.password_check(*credentials)
    admitted = firmware.logins.begin(_source(request), check, firmware.now)
    if admitted is True:
        return None
    if isinstance(admitted, Refused):
        return _throttled(admitted)
    return check


def checked(
    firmware: AdminContext, request: HttpRequest, check: PasswordCheck, ok: bool
) -> HttpResponse | None:
    """Take the result of the check :func:`refusal` asked for: None, or 401."""
    firmware.logins.end(_source(request), check, ok)
    return None if ok else _unauthorized(firmware)


def _source(request: HttpRequest) -> str:
    return request.client or "an unknown client"


def _throttled(refused: Refused) -> HttpResponse:
    status = 503 if refused.device_busy else 429
    word = "Service Unavailable" if refused.device_busy else "Too Many Requests"
    return HttpResponse.text(
        status,
        f"{status} {word}: {refused.reason}; try again in {refused.seconds} s\r\n",
        headers=(("Retry-After", str(refused.seconds)),),
    )


def handle(firmware: AdminContext, request: HttpRequest) -> HttpResponse:
    """Answer ``request`` (see the module docstring); a password check :func:`refusal`
    asks for is made here and now (the runtime has made it before, off its event loop)."""
    refused = refusal(firmware, request)
    if isinstance(refused, PasswordCheck):
        refused = checked(firmware, request, refused, refused.verify())
    if refused is not None:
        return refused
    path = request.path
    if path == "/CMD0/box_info.xml":
        return HttpResponse(200, box_info(firmware).encode("utf-8"), "text/xml; charset=utf-8")
    assert request.credentials is not None  # refusal() checked them
    if path.startswith("/!"):
        return _command(firmware, path[2:], request.credentials[0])
    if path == "/":
        return HttpResponse(200, home_page(firmware).encode("utf-8"), "text/html; charset=utf-8")
    if path == "/cfg.txt":
        return HttpResponse.text(200, firmware.full_config())
    if path == "/log.txt":
        return HttpResponse.text(200, "".join(f"{at:.3f} {text}\r\n" for at, text in firmware.log))
    if path == "/upload/config":
        return _load(firmware, request.body, force=request.query.get("force") == "1")
    return _upload(firmware, _UPLOADS[path], request.body)


def _command(firmware: AdminContext, line: str, user: str) -> HttpResponse:
    out = firmware.execute(line)
    firmware.note_admin_command(user, line)
    status = 400 if out.startswith("error: ") else 200
    return HttpResponse.text(status, out)


def _load(firmware: AdminContext, body: bytes, *, force: bool) -> HttpResponse:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        return HttpResponse.text(400, f"error: the config is not ASCII text (byte {exc.start})\r\n")
    try:
        return HttpResponse.text(200, firmware.load_full_config(text, require_eth0=not force))
    except UnreachableConfig as exc:
        hint = "to load it anyway, send it to /upload/config?force=1"
        return HttpResponse.text(422, f"error: {exc} ({hint})\r\n")
    except CommandError as exc:
        return HttpResponse.text(400, f"error: {exc}\r\n")
    except PowerLost:
        raise
    except NoSpace as exc:
        return HttpResponse.text(507, f"error: {exc}\r\n")
    except (FlashError, ValueError) as exc:
        return HttpResponse.text(400, f"error: {exc}\r\n")


def _upload(firmware: AdminContext, kind: ImageKind, body: bytes) -> HttpResponse:
    result = firmware.store_image(kind, body)
    if result.stored:
        return HttpResponse.text(200, f"{result.message}\r\n")
    return HttpResponse.text(507 if result.no_space else 400, f"{result.message}\r\n")
