"""Waiting for device events: watchers' queues and the futures of timed presses."""

from __future__ import annotations

import pytest

from ipgwsim.events import ButtonReleased, Event, Led, LedChanged, PoweredOff
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.watch import Presses, Watched, Watcher, Watchers
from ipgwsim.testing.loopback import run


def test_a_press_ends_at_its_release_or_power_off_and_fails_when_the_runtime_stops() -> None:
    async def main() -> None:
        presses = Presses()
        assert presses.add("a", waits=False).done()  # the device does not read the button
        first, second = presses.add("a", waits=True), presses.add("b", waits=True)
        presses.event("a", LedChanged(Led.OFF))
        assert not first.done()
        presses.event("a", ButtonReleased(1.8, "short"))
        assert first.done()
        assert not second.done()
        third = presses.add("c", waits=True)
        presses.event("c", PoweredOff("power switched off"))
        assert third.done()
        presses.stop()
        with pytest.raises(RuntimeSetupError, match="the runtime stopped during the press"):
            second.result()

    run(main())


def test_watchers_get_the_watched_events_of_their_device() -> None:
    async def main() -> None:
        watchers = Watchers()
        every: Watcher[Watched] = watchers.watch(None, timed=True)
        only_b: Watcher[tuple[str, Event]] = watchers.watch("b", timed=False)
        watchers.send("a", LedChanged(Led.OFF), 1.0)
        watchers.send("b", LedChanged(Led.OFF), 2.0)
        watchers.send("b", ButtonReleased(1.8, "short"), 3.0)  # not a watched event
        assert every.pending() == [("a", LedChanged(Led.OFF), 1.0), ("b", LedChanged(Led.OFF), 2.0)]
        assert only_b.pending() == [("b", LedChanged(Led.OFF))]
        watchers.end()
        assert [item async for item in every] == []
        only_b.close()
        watchers.send("b", LedChanged(Led.OFF), 4.0)
        assert only_b.pending() == []
        assert watchers.drops == 0

    run(main())
