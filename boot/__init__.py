"""The boot code: power-on, the reset button, the ready LED and TFTP mode.

Sans-I/O: it takes events, datagrams and the current time and returns
datagrams, events and its next deadline. :class:`BootCode` is the state machine
(``table.py`` holds its table); :class:`TftpMode` is what the boot code does while
it does not start the firmware: the gwload responder and the TFTP file table.
``README.md`` beside this file documents the behaviour and where it comes from.
"""

from __future__ import annotations

from ipgwsim.boot.bootcode import BootCode
from ipgwsim.boot.button import Press, classify_press
from ipgwsim.boot.requests import AddressPolicy, PortPolicy, RunningBoot
from ipgwsim.boot.table import TABLE, Action, Input, Transition
from ipgwsim.boot.tftpmode import TftpMode

__all__ = [
    "TABLE",
    "Action",
    "AddressPolicy",
    "BootCode",
    "Input",
    "PortPolicy",
    "Press",
    "RunningBoot",
    "TftpMode",
    "Transition",
    "classify_press",
]
