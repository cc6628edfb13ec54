"""The config model: change/add/rem, render and parse, schema, take_user, defaults."""

from __future__ import annotations

import pytest
from hypothesis import given

from ipgwsim.device import default_config
from ipgwsim.firmware.config import Config, ConfigValueError, defaults
from ipgwsim.firmware.configlang import ConfigChange, ConfigSyntaxError, parse_line
from ipgwsim.hw_profiles import find_profile, load_profiles
from ipgwsim.testing.strategies import configs


def change(line: str) -> ConfigChange:
    command = parse_line(line)
    assert isinstance(command, ConfigChange)
    return command


def test_change_sets_exactly_the_given_params() -> None:
    config = Config({"UP1": {"url": "http://a/", "poll": "5"}})
    config.apply(change("config change UP1 /url http://b/ /no-dhcp"))
    assert config.modules == {"UP1": {"url": "http://b/", "no-dhcp": None}}


def test_add_overwrites_given_params_and_keeps_the_rest() -> None:
    config = Config({"UP1": {"url": "http://a/", "poll": "5"}})
    config.apply(change("config add UP1 /url http://b/ /no-dhcp"))
    assert config.modules == {"UP1": {"url": "http://b/", "poll": "5", "no-dhcp": None}}
    config.apply(change("config add UP0 /poll 3"))
    assert config.params("UP0") == {"poll": "3"}


def test_rem_removes_given_params_and_without_params_the_module() -> None:
    config = Config({"UP1": {"url": "http://a/", "provision": None}, "CMD0": {"name": "x"}})
    config.apply(change("config rem UP1 /provision /poll"))
    assert config.modules == {"UP1": {"url": "http://a/"}, "CMD0": {"name": "x"}}
    config.apply(change("config rem UP1"))
    assert "UP1" not in config
    assert config.modules == {"CMD0": {"name": "x"}}
    config.apply(change("config rem PBX0 /x"))  # missing module: no error
    assert config.modules == {"CMD0": {"name": "x"}}


def test_accessors() -> None:
    config = Config({"UP1": {"url": "http://u/", "no-dhcp": None}})
    assert config.get("UP1", "url") == "http://u/"
    assert config.get("UP1", "no-dhcp") is None
    assert config.has("UP1", "no-dhcp")
    assert not config.has("UP1", "poll")
    assert config.get("ETH0", "addr") is None
    assert config.params("ETH0") is None
    modules = config.modules
    modules["UP1"]["url"] = "changed"
    assert config.get("UP1", "url") == "http://u/"


def test_render_is_one_crlf_line_per_module_in_first_appearance_order() -> None:
    config = Config.from_text(
        "config change UP1 /url http://x/\n"
        "config change CMD0 /name dev /log on\n"
        "config add UP1 /no-dhcp\n"
        "config change PBX0\n"
    )
    assert config.render() == (
        "config change UP1 /url http://x/ /no-dhcp\r\n"
        "config change CMD0 /name dev /log on\r\n"
        "config change PBX0\r\n"
    )
    assert Config().render() == ""


def test_the_password_script_and_take_user() -> None:
    script = (
        "# reset password\r\n"
        "config change CMD0 /name mydevicehostname /log on /user admin,ip6000\r\n"
        "config write\r\n"
        "config activate\r\n"
    )
    config = Config.from_text(script)
    assert config.modules == {
        "CMD0": {"name": "mydevicehostname", "log": "on", "user": "admin,ip6000"}
    }
    assert config.take_user() == ("admin", "ip6000")
    assert config.render() == "config change CMD0 /name mydevicehostname /log on\r\n"
    assert config.take_user() is None
    assert Config().take_user() is None


def test_take_user_splits_at_the_first_comma() -> None:
    config = Config({"CMD0": {"user": "admin,pa,ss"}})
    assert config.take_user() == ("admin", "pa,ss")
    assert config.modules == {"CMD0": {}}


@pytest.mark.parametrize(
    ("line", "module", "param", "value", "reason"),
    [
        ("config change ETH0 /addr 300.1.2.3", "ETH0", "addr", "300.1.2.3", "not an IPv4 address"),
        ("config change ETH1 /addr 10.0.0", "ETH1", "addr", "10.0.0", "not an IPv4 address"),
        (
            "config change ETH0 /mask 255.0.255.0",
            "ETH0",
            "mask",
            "255.0.255.0",
            "not a netmask (its one bits are not contiguous)",
        ),
        ("config change ETH0 /mask x", "ETH0", "mask", "x", "not a netmask"),
        (
            "config change ETH0 /dhcp maybe",
            "ETH0",
            "dhcp",
            "maybe",
            "not one of off, client, server, auto",
        ),
        ("config change ETH0 /dhcp", "ETH0", "dhcp", None, "needs a value"),
        ("config add UP1 /poll soon", "UP1", "poll", "soon", "not a whole number of minutes"),
        ("config add UP0 /poll-fast -1", "UP0", "poll-fast", "-1", "not a whole number of minutes"),
        ("config add UP1 /poll 10081", "UP1", "poll", "10081", "more than 10080 minutes (a week)"),
        (
            "config add UP1 /url http://[fe80::1/up/",
            "UP1",
            "url",
            "http://[fe80::1/up/",
            "not a URL: Invalid IPv6 URL",
        ),
        (
            "config add UP1 /url srv/up/",
            "UP1",
            "url",
            "srv/up/",
            "not an absolute http:// or https:// URL",
        ),
        ("config add UP1 /no-dhcp yes", "UP1", "no-dhcp", "yes", "is a flag and takes no value"),
        ("config add UP1 /provision 3", "UP1", "provision", "3", "is a flag and takes no value"),
        ("config change CMD0 /user admin", "CMD0", "user", "admin", "not user,password"),
        ("config change CMD0 /user ,pw", "CMD0", "user", ",pw", "the user is empty"),
        ("config change CMD0 /user admin,", "CMD0", "user", "admin,", "the password is empty"),
        ("config change CONF /mode mcu", "CONF", "mode", "mcu", "not one of legacy, pbx"),
    ],
)
def test_schema_errors(line: str, module: str, param: str, value: str | None, reason: str) -> None:
    config = Config({"ETH0": {"dhcp": "auto"}, "UP1": {"url": "http://u/"}})
    before = config.copy()
    with pytest.raises(ConfigValueError) as info:
        config.apply(change(line))
    error = info.value
    assert (error.module, error.param, error.value, error.reason) == (module, param, value, reason)
    assert error.line is None
    shown = f"{module} /{param}" + ("" if value is None else f" {value}")
    assert str(error) == f"{shown}: {reason}"
    assert config == before


def test_valid_values_of_known_modules() -> None:
    text = (
        "config change CMD0 /name gw /log on /user a,b\n"
        "config change ETH0 /addr 192.168.0.1 /mask 255.255.255.0 /dhcp off\n"
        "config change ETH1 /addr 0.0.0.0 /mask 0.0.0.0 /dhcp client\n"
        "config change UP0 /url http://x/ /poll 0 /poll-fast 1 /no-dhcp /provision\n"
        "config change UP1 /url http%3A%2F%2Fsrv%2F /poll 15\n"
        "config change CONF /number 77 /registrar 10.0.0.2 /user conf /pwd pw /mode pbx\n"
    )
    config = Config.from_text(text)
    assert config.unknown() == []
    assert Config.parse(config.render()) == config


def test_unknown_modules_and_params_are_kept_and_reported() -> None:
    text = (
        "config change PBX0 /name master\n"
        "config change CMD0 /name gw /color blue /x\n"
        "config change GW-DECT\n"
        "config change ETH0 /dhcp auto /mtu 1500\n"
    )
    config = Config.from_text(text)
    assert config.unknown() == [
        ("PBX0", None),
        ("CMD0", "color"),
        ("CMD0", "x"),
        ("GW-DECT", None),
        ("ETH0", "mtu"),
    ]
    assert config.get("CMD0", "color") == "blue"
    assert Config.parse(config.render()) == config


BAD_LINE_5 = (
    "config change CMD0 /name new\r\n"
    "config add UP1 /url http%3A%2F%2Fsrv%2F\r\n"
    "# comment\r\n"
    "config change ETH1 /addr 10.0.0.1\r\n"
    "{line5}\r\n"
    "config change UP0 /url http://y/\r\n"
)


@pytest.mark.parametrize(
    ("line5", "error", "message"),
    [
        (
            "config change ETH0 /addr 300.1.2.3",
            ConfigValueError,
            "line 5: ETH0 /addr 300.1.2.3: not an IPv4 address",
        ),
        ("config frob", ConfigSyntaxError, "line 5: config frob: unknown config verb 'frob'"),
    ],
)
def test_apply_text_is_all_or_nothing(line5: str, error: type[Exception], message: str) -> None:
    config = Config({"CMD0": {"name": "old"}, "ETH1": {"addr": "192.168.1.1"}})
    before = config.render()
    with pytest.raises(error) as info:
        config.apply_text(BAD_LINE_5.format(line5=line5))
    assert str(info.value) == message
    assert config.render() == before
    with pytest.raises(error):
        Config.from_text(BAD_LINE_5.format(line5=line5))


def test_value_error_carries_its_line() -> None:
    with pytest.raises(ConfigValueError) as info:
        Config.from_text(BAD_LINE_5.format(line5="config add UP1 /poll x"))
    assert info.value.line == 5
    assert (info.value.module, info.value.param, info.value.value) == ("UP1", "poll", "x")


def test_apply_text_returns_a_new_config_and_skips_other_commands() -> None:
    config = Config({"CMD0": {"name": "old"}})
    new = config.apply_text(
        "config change CMD0 /name new\nconfig write\nmod cmd UP1 check iresetn 7\n"
        "vars read X\nconfig activate\n"
    )
    assert new.modules == {"CMD0": {"name": "new"}}
    assert config.modules == {"CMD0": {"name": "old"}}


def test_constructor_validates() -> None:
    with pytest.raises(ConfigValueError):
        Config({"ETH0": {"dhcp": "maybe"}})
    with pytest.raises(ValueError, match="module name 'eth0'"):
        Config({"eth0": {}})


def test_equality_ignores_order_but_not_content() -> None:
    a = Config({"CMD0": {"name": "a", "log": "on"}, "UP1": {}})
    b = Config({"UP1": {}, "CMD0": {"log": "on", "name": "a"}})
    assert a == b
    assert a != Config({"CMD0": {"name": "a", "log": "on"}})
    assert a != "config"


def test_defaults_of_every_profile() -> None:
    for profile in load_profiles().values():
        config = defaults(profile)
        eth1 = next(e for e in profile.ethernet if e.name == "ETH1")
        assert config.modules == {
            "CMD0": {"name": profile.model},
            "ETH0": {"dhcp": "auto"},
            "ETH1": {"addr": eth1.default_address, "mask": eth1.default_mask},
        }
        assert config.unknown() == []


def test_defaults_of_ip6000_and_the_device_factory_config() -> None:
    profile = find_profile("IP6000")
    assert defaults(profile).render() == (
        "config change CMD0 /name IP6000\r\n"
        "config change ETH0 /dhcp auto\r\n"
        "config change ETH1 /addr 192.168.1.1 /mask 255.255.255.0\r\n"
    )
    # The device's factory flash carries only CMD0 /name so far; the model agrees on it.
    factory = Config.from_text(default_config(profile))
    assert factory.params("CMD0") == defaults(profile).params("CMD0")


@given(configs())
def test_render_parse_round_trip(config: Config) -> None:
    text = config.render()
    parsed = Config.parse(text)
    assert parsed == config
    assert parsed.render() == text
    assert list(parsed.modules) == list(config.modules)


@given(configs(), configs())
def test_change_lines_replace_whole_modules(base: Config, other: Config) -> None:
    merged = base.apply_text(other.render())
    for module, params in other.modules.items():
        assert merged.params(module) == params
    for module, params in base.modules.items():
        if module not in other:
            assert merged.params(module) == params
