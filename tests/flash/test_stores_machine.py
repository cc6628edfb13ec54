"""The flash stores under any sequence of changes and power cuts (ipgwsim.testing)."""

from __future__ import annotations

from hypothesis import settings

from ipgwsim.flash.faults import FaultInjector
from ipgwsim.flash.nor import NorFlash
from ipgwsim.testing.flash import small_flash
from ipgwsim.testing.flash_machine import FlashStoresMachine


class ByteUnitMachine(FlashStoresMachine):
    def make_flash(self, faults: FaultInjector) -> NorFlash:
        return small_flash(sectors=20, sector_size=128, unit=1, faults=faults)


TestFlashStores = FlashStoresMachine.TestCase
TestFlashStores.settings = settings(stateful_step_count=40)
TestFlashStoresByteUnit = ByteUnitMachine.TestCase
TestFlashStoresByteUnit.settings = settings(stateful_step_count=40)
