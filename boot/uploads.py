"""The upload policy of TFTP mode: an upload is checked completely before anything is
erased (gwload-protocol.md 4, ``boot/README.md``).

An image is refused by its header as soon as the header is in, and checked once more
when it is complete (for ``prot``: against the firmware pool's fit rule,
:meth:`~ipgwsim.flash.flashman.FlashMan.check_firmware`); only then is the final ACK
sent and the image handed to the boot code as an
:class:`~ipgwsim.boot.requests.ImageUploaded` request. A config is stored as the newest
ring generation once the whole text is in and valid.
"""

from __future__ import annotations

from contextlib import suppress

from ipgwsim.boot.checks import not_config_text
from ipgwsim.boot.filetable import FileTable
from ipgwsim.boot.requests import ImageUploaded, Request
from ipgwsim.boot.transfers import Transfer
from ipgwsim.events import ConsoleOutput, Event, FlashChanged
from ipgwsim.flash.dumptext import several_generations
from ipgwsim.flash.errors import NoSpace
from ipgwsim.flash.formats import IMAGE_HEADER_SIZE
from ipgwsim.flash.image import ImageError, Truncated, parse_header, verify_image
from ipgwsim.flash.ring import ConfigTextError, check_config_text
from ipgwsim.proto.tftp import ErrorCode, ServerWrite


class Uploads:
    """Checks the uploads of one device's TFTP mode; appends to the lists it is given."""

    def __init__(self, table: FileTable, events: list[Event], requests: list[Request]) -> None:
        self.table = table
        self._events = events
        self._requests = requests

    def _print(self, line: str) -> None:
        self._events.append(ConsoleOutput(line))

    def check_header(self, transfer: Transfer, engine: ServerWrite, now: float) -> None:
        """Refuse an image by its header as soon as the header is in: before any erase."""
        table = self.table
        slot = table.slots().get(transfer.name)
        if slot is None or transfer.header_checked or len(engine.received) < IMAGE_HEADER_SIZE:
            return
        transfer.header_checked = True
        try:
            info = parse_header(engine.received[:IMAGE_HEADER_SIZE])
            # Truncated is the normal case: the header is fine and the rest is on its way.
            with suppress(Truncated):
                verify_image(
                    engine.received[:IMAGE_HEADER_SIZE],
                    model=table.profile.model,
                    kinds=slot.kinds,
                    region_size=table.region_size(slot.region),
                    region_name=table.region_name(slot.region),
                )
            if slot.region == "prot":
                table.flashman().check_firmware(info.total_length)
        except NoSpace as exc:
            self._refuse(transfer, engine, ErrorCode.DISK_FULL, str(exc), now)
        except ImageError as exc:
            self._refuse(transfer, engine, ErrorCode.NOT_DEFINED, str(exc), now)
        else:
            self._print(f"tftp: {transfer.name}: {info.kind.label} {info.build} for {info.model}")

    def _refuse(
        self, transfer: Transfer, engine: ServerWrite, code: ErrorCode, text: str, now: float
    ) -> None:
        self._print(f"tftp: WRQ {transfer.name} refused: {text}")
        engine.refuse(code, text, now)

    def complete(self, transfer: Transfer, engine: ServerWrite, data: bytes, now: float) -> None:
        """The last block of an upload is in: check it all, then ACK it or refuse it."""
        table = self.table
        if transfer.name == table.config_name:
            self._store_config(transfer, engine, data, now)
            return
        slot = table.slots()[transfer.name]
        try:
            if slot.region == "prot":
                # The same checks as FlashMan.store_firmware: image, then the fit rule.
                info = table.flashman().verify_firmware(data, boot_build=table.boot.build)
            else:
                info = verify_image(
                    data,
                    model=table.profile.model,
                    kinds=slot.kinds,
                    region_size=table.region_size(slot.region),
                    region_name=slot.region,
                )
        except NoSpace as exc:
            self._refuse(transfer, engine, ErrorCode.DISK_FULL, str(exc), now)
            return
        except ImageError as exc:
            self._refuse(transfer, engine, ErrorCode.NOT_DEFINED, str(exc), now)
            return
        engine.accept(now)
        self._print(f"tftp: {transfer.name}: {len(data)} bytes received, image verified")
        self._requests.append(ImageUploaded(info.kind, slot.region, data, info))

    def _store_config(
        self, transfer: Transfer, engine: ServerWrite, data: bytes, now: float
    ) -> None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._refuse(
                transfer,
                engine,
                ErrorCode.NOT_DEFINED,
                f"config is not text: byte {data[exc.start]:#04x} at offset {exc.start}",
                now,
            )
            return
        problem = not_config_text(text) or several_generations(data)
        if problem is not None:
            self._refuse(transfer, engine, ErrorCode.NOT_DEFINED, problem, now)
            return
        try:
            check_config_text(text)
            generation = self.table.ring.write(text)  # PowerLost goes up: the device is off
        except ConfigTextError as exc:
            self._refuse(transfer, engine, ErrorCode.NOT_DEFINED, f"config refused: {exc}", now)
            return
        except NoSpace as exc:
            self._refuse(transfer, engine, ErrorCode.DISK_FULL, str(exc), now)
            return
        engine.accept(now)
        self._events.append(FlashChanged("config"))
        self._print(f"tftp: config stored as generation {generation.number} ({len(data)} bytes)")
