"""labgrid resources and drivers for a device of a running ``ipgwsim run``.

The environment file imports this module (``imports: [ipgwsim_labgrid]``); importing it
registers, with labgrid's ``target_factory``:

- ``IpgwsimDevice``: a resource, one simulated gateway: its name (``ip6000-1``) and the
  state directory of the runtime that runs it (whose control socket the drivers use);
- ``IpgwsimPowerDriver``: labgrid's ``PowerProtocol`` (``on``, ``off``, ``cycle``; and
  ``ResetProtocol``'s ``reset`` as a power cycle) and ``get``;
- ``IpgwsimButtonDriver``: the reset button, held ``hold`` device seconds by ``press()``
  (1.8 s by default: TFTP mode), or as long as ``press(hold=...)`` says.

The console is not here: it is labgrid's own ``NetworkSerialPort`` over RFC 2217 with its
``SerialDriver`` (``ipgwsim run --console-port``). On a real gateway these two drivers
are replaced by labgrid's own (a network PDU's ``NetworkPowerDriver``, a relay or GPIO
``DigitalOutputButtonDriver``): see ipgwsim's docs/testing.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import attr
from labgrid.driver.common import Driver
from labgrid.driver.powerdriver import PowerResetMixin
from labgrid.factory import target_factory
from labgrid.protocol import PowerProtocol
from labgrid.resource.common import Resource
from labgrid.step import step

from ipgwsim.runtime.control import ControlClient, ControlError
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error

#: How long a reply of the runtime may take (a press takes its hold time in device time).
REPLY_TIMEOUT = 60.0
#: The press that gives TFTP mode (Howto:Config or Password Recovery: three blinks).
TFTP_MODE_HOLD = 1.8


class IpgwsimError(Exception):
    """The runtime refused a request or could not be reached; the message says why."""


@target_factory.reg_resource
@attr.s(eq=False)
class IpgwsimDevice(Resource):
    """A simulated gateway of a running ``ipgwsim run``.

    Args:
        device (str): the device's name (``ip6000-1``) or MAC
        state_dir (str): the runtime's state directory (``ipgwsim run --state DIR``)
    """

    device = attr.ib(validator=attr.validators.instance_of(str))
    state_dir = attr.ib(validator=attr.validators.instance_of(str))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not self.device:
            raise ValueError("IpgwsimDevice: 'device' is empty (a device name such as ip6000-1)")
        if not self.state_dir:
            raise ValueError("IpgwsimDevice: 'state_dir' is empty (the runtime's state directory)")

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        """One request to the runtime's control socket; its reply (``ok`` true)."""
        try:
            with ControlClient(Path(self.state_dir), timeout=REPLY_TIMEOUT) as client:
                reply = client.request(cmd, device=self.device, **args)
        except TimeoutError:
            raise IpgwsimError(
                f"{self.device}: {cmd}: the runtime did not answer in time"
            ) from None
        except (ControlError, RuntimeSetupError, OSError) as exc:
            raise IpgwsimError(f"{self.device}: {cmd}: {describe_error(exc)}") from None
        return reply

    def status(self) -> dict[str, Any]:
        """The device's status as the runtime reports it (``mode``, ``led``, ``ip``, ...)."""
        return {key: value for key, value in self.request("device").items() if key != "ok"}


@target_factory.reg_driver
@attr.s(eq=False)
class IpgwsimPowerDriver(Driver, PowerResetMixin, PowerProtocol):
    """Switches a simulated gateway's power, as a PDU switches a real one's."""

    bindings: ClassVar[dict[str, str]] = {"gateway": "IpgwsimDevice"}

    @Driver.check_active
    @step()
    def on(self) -> None:
        self.gateway.request("power", on=True)

    @Driver.check_active
    @step()
    def off(self) -> None:
        self.gateway.request("power", on=False)

    @Driver.check_active
    @step()
    def cycle(self) -> None:
        self.off()
        self.on()

    @Driver.check_active
    @step(result=True)
    def get(self) -> bool:
        """Whether the device has power (it is in any mode but ``off``)."""
        return str(self.gateway.status()["mode"]) != "off"


@target_factory.reg_driver
@attr.s(eq=False)
class IpgwsimButtonDriver(Driver):
    """Holds a simulated gateway's reset button, as a relay across the real button does.

    Args:
        hold (float): device seconds ``press()`` holds the button (default 1.8: TFTP mode)
    """

    bindings: ClassVar[dict[str, str]] = {"gateway": "IpgwsimDevice"}
    hold = attr.ib(default=TFTP_MODE_HOLD, converter=float)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not 0 < self.hold <= 3600:
            raise ValueError(f"IpgwsimButtonDriver: hold {self.hold:g} s is not in (0, 3600]")

    @Driver.check_active
    @step(args=["hold"], result=True)
    def press(self, hold: float | None = None) -> dict[str, Any]:
        """Hold the button ``hold`` device seconds (default: the driver's ``hold``) and
        let it go; the reply: the device's ``mode`` and ``led`` after it, and the
        ``events`` while it was held (the LED's blinks)."""
        seconds = self.hold if hold is None else float(hold)
        return self.gateway.request("press", hold=seconds)
