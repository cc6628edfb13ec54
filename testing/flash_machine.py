"""A Hypothesis state machine over the flash stores of one device, under power cuts.

:class:`FlashStoresMachine` drives a :class:`~ipgwsim.flash.ring.ConfigRing`,
a :class:`~ipgwsim.flash.vars.VarStore` and a
:class:`~ipgwsim.flash.flashdir.FlashDir` that share one NOR flash, next to a
trivially correct model (a string and two dicts). Any change may be hit by a
power cut at any of its flash operations, atomic or torn. After the power
returns every store is mounted again and must hold either the state before
the interrupted change or the state after it: never a mix, never older. A
change refused for lack of space changes nothing.

Subclass it and override :meth:`make_flash` to run it on another geometry.
"""

from __future__ import annotations

from collections.abc import Callable

from ipgwsim.flash.errors import NoSpace, PowerLost
from ipgwsim.flash.faults import CutMode, FaultInjector, PowerCut
from ipgwsim.flash.flashdir import FlashDir
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import Partition
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.flash.vars import VarFlags, VarStore
from ipgwsim.runtime.extras import extra_imports
from ipgwsim.testing.flash import region_of, small_flash

with extra_imports(__name__):
    from hypothesis import event
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

#: A power cut for one change: None, or (operation of the change, mode, kept amount).
cuts = st.one_of(
    st.none(),
    st.tuples(
        st.integers(1, 12),
        st.sampled_from(CutMode),
        st.one_of(st.none(), st.integers(0, 4096)),
    ),
)
config_texts = st.lists(
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=60).map(
        lambda line: f"config change CMD0 /name {line}"
    ),
    max_size=12,
).map(lambda lines: "".join(line + "\r\n" for line in lines))
var_names = st.sampled_from(["UPDATE/PROT", "UPDATE/CHECK", "CMD0/AUTH", "X509/REQUEST", "A"])
item_keys = st.sampled_from(["user/1", "user/2", "calllist/1", "calllist/2", "group/x"])

Model = tuple[str | None, dict[str, tuple[int, bytes]], dict[str, bytes]]


class FlashStoresMachine(RuleBasedStateMachine):
    """Ring, vars and flash directory against a model, with power cuts anywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.faults = FaultInjector()
        self.flash = self.make_flash(self.faults)
        size = self.flash.geometry.sector_count
        ring_sectors = size // 2
        rest = size - ring_sectors
        self.parts = (
            region_of(self.flash, "config", 0, ring_sectors),
            region_of(self.flash, "vars", ring_sectors, rest // 2),
            region_of(self.flash, "flashdir", ring_sectors + rest // 2, rest - rest // 2),
        )
        self.config: str | None = None
        self.vars: dict[str, tuple[int, bytes]] = {}
        self.items: dict[str, bytes] = {}
        self.cuts_hit = 0
        self.refusals = 0
        self.mount()

    def make_flash(self, faults: FaultInjector) -> NorFlash:
        """The flash the stores share: 16 sectors of 256 bytes, 2-byte program unit."""
        return small_flash(sectors=16, sector_size=256, unit=2, faults=faults)

    def mount(self) -> None:
        self.ring = ConfigRing(self.parts[0])
        self.var_store = VarStore(self.parts[1])
        self.flashdir = FlashDir(self.parts[2])

    @property
    def partitions(self) -> tuple[Partition, ...]:
        return self.parts

    def observed(self) -> Model:
        return (
            self.ring.newest_text(),
            {v.name: (int(v.flags), v.value) for v in self.var_store.all()},
            dict(self.flashdir.items()),
        )

    def attempt(
        self,
        change: Callable[[], object],
        cut: tuple[int, CutMode, int | None] | None,
        after: Model,
    ) -> None:
        """Run ``change``, maybe cut by a power loss; then check old-or-new and adopt it."""
        before: Model = (self.config, dict(self.vars), dict(self.items))
        if cut is not None:
            at, mode, keep = cut
            self.faults.cut = PowerCut(self.faults.count + at, mode, keep)
        try:
            change()
        except NoSpace:
            # Refused before any flash operation: nothing changed, also after a remount.
            self.refusals += 1
            event("change refused: no space")
            self.mount()
            assert self.observed() == before
            return
        except PowerLost:
            self.cuts_hit += 1
            event("power cut hit a change")
            self.flash.power_on()
            self.mount()
            found = self.observed()
            # Each store on its own is old or new (a clear touches all three in turn).
            for index, (old, new, now) in enumerate(zip(before, after, found, strict=True)):
                assert now in (old, new), (
                    f"store {index} after a power cut holds neither the old nor the new state\n"
                    + self.flash.faults.describe()
                )
            self.config, self.vars, self.items = found
            return
        finally:
            self.faults.cut = None
        self.config, self.vars, self.items = after

    @rule(text=config_texts, cut=cuts)
    def config_write(self, text: str, cut: tuple[int, CutMode, int | None] | None) -> None:
        self.attempt(lambda: self.ring.write(text), cut, (text, self.vars, self.items))

    @rule(name=var_names, value=st.binary(max_size=80), crypted=st.booleans(), cut=cuts)
    def var_set(
        self, name: str, value: bytes, crypted: bool, cut: tuple[int, CutMode, int | None] | None
    ) -> None:
        flags = VarFlags.PERSISTENT | (VarFlags.CRYPTED if crypted else VarFlags.NONE)
        new_vars = {**self.vars, name: (int(flags), value)}
        self.attempt(
            lambda: self.var_store.set(name, value, flags), cut, (self.config, new_vars, self.items)
        )

    @rule(name=var_names, cut=cuts)
    def var_delete(self, name: str, cut: tuple[int, CutMode, int | None] | None) -> None:
        new_vars = {k: v for k, v in self.vars.items() if k != name}
        self.attempt(lambda: self.var_store.delete(name), cut, (self.config, new_vars, self.items))

    @rule(key=item_keys, data=st.binary(max_size=120), cut=cuts)
    def item_add(self, key: str, data: bytes, cut: tuple[int, CutMode, int | None] | None) -> None:
        new_items = {**self.items, key: data}
        self.attempt(
            lambda: self.flashdir.add_item(key, data), cut, (self.config, self.vars, new_items)
        )

    @rule(key=item_keys, cut=cuts)
    def item_remove(self, key: str, cut: tuple[int, CutMode, int | None] | None) -> None:
        new_items = {k: v for k, v in self.items.items() if k != key}
        self.attempt(
            lambda: self.flashdir.remove_item(key), cut, (self.config, self.vars, new_items)
        )

    @rule(cut=cuts)
    def long_reset(self, cut: tuple[int, CutMode, int | None] | None) -> None:
        def clear() -> None:
            self.ring.clear()
            self.var_store.clear()
            self.flashdir.reset()

        self.attempt(clear, cut, (None, {}, {}))

    @rule()
    def power_cycle(self) -> None:
        self.mount()

    @invariant()
    def stores_match_the_model(self) -> None:
        assert self.observed() == (self.config, self.vars, self.items)
