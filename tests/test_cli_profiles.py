"""``ipgwsim profiles``: the table, one model in full, and errors as one line with exit 2."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from ipgwsim.tools.cli import main

MODELS = ("IP800", "IP6000", "IP811", "IP311", "IP411", "IP0011", "IP1130", "IP3011", "IP6010")
LEGEND = "* placeholder: no public source documents this value"
TEMPLATE = (resources.files("ipgwsim.hw_profiles") / "ip6000.toml").read_text(encoding="utf-8")


def rows(text: str) -> dict[str, list[str]]:
    """The lines of ``text`` by their first word, split on runs of two or more spaces."""
    result: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [cell for cell in line.strip().split("  ") if cell]
        if cells:
            result[cells[0].strip()] = [cell.strip() for cell in cells[1:]]
    return result


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    table = rows(out)
    assert table["MODEL"] == [
        "GWTYPE", "FAMILY", "BOOT", "TFTP CONFIG", "FLASH MiB", "TELEPHONY", "CONF"
    ]  # fmt: skip
    for model in (*MODELS, "IP6013"):
        assert model in table
    assert table["IP6000"] == ["6000", "legacy", "145", "config", "32*", "PRI 4*", "60*"]
    assert table["IP800"] == ["800", "legacy", "405", "config", "32", "BRI 4*", "8*"]
    assert table["IP811"][-1] == "30"
    assert table["IP311"][-2] == "FXS 2, FXO 2*"
    assert table["IP0011"][-2] == "-"
    assert out.rstrip().endswith(LEGEND)
    assert table["IP3000"] == ["3000*", "legacy*", "320*", "c*", "16*", "PRI 1*", "30*"]
    assert table["IP21"][:4] == ["21*", "legacy*", "300*", "c*"]
    by_gwtype = ["IP0011", "IP21", "IP22", "IP24", "IP200", "IP302", "IP305", "IP311", "IP400"]
    by_gwtype += ["IP411", "IP800", "IP811", "IP1130", "IP3000", "IP3011", "IP6000", "IP6010"]
    by_gwtype += ["IP6013"]
    assert [line.split()[0] for line in out.splitlines()[1:19]] == by_gwtype


@pytest.mark.parametrize("name", ["IP811", "ip811", "811"])
def test_one_model(capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert main(["profiles", name]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    fields = rows(out)
    assert fields["model"] == ["IP811"]
    assert fields["conference.channels"] == ["30"]
    assert fields["conference.mode"] == ["pbx_object"]
    assert fields["files.boot"] == ["boot811.bin"]
    assert fields["reset.long_s"] == ["10.0"]
    assert fields["source"] == ["ipgwsim/hw_profiles/ip811.toml"]
    assert "flash.regions" in out
    assert fields["boot"] == ["0x0000000", "0x0040000 *"]
    assert fields["config"] == ["0x0040000", "0x0040000 *"]
    assert fields["prot"] == ["0x00a0000", "0x0c00000 *"]
    assert fields["flashdir"] == ["0x0ca0000", "0x1360000 *"]
    assert "altboot" not in fields


def test_placeholder_marker(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "IP0011"]) == 0
    out, _ = capsys.readouterr()
    fields = rows(out)
    assert fields["boot.build"] == ["631 *"]
    assert fields["gwtype"] == ["11 *"]
    assert fields["leds.has_orange"] == ["no *"]
    assert fields["ethernet.0.default_mask"] == ["255.255.255.0 *"]
    # Documented values carry no marker.
    assert fields["ethernet.0.default_address"] == ["192.168.0.1"]
    assert fields["reset.long_s"] == ["10.0"]
    assert fields["files.firmware"] == ["ip0011.bin"]
    assert out.rstrip().splitlines()[-1] == LEGEND


def test_ip800_shows_its_rescue_copy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "800"]) == 0
    fields = rows(capsys.readouterr().out)
    assert fields["boot.rescue_copy"] == ["yes"]
    assert fields["boot.rescue_from_build"] == ["358"]
    assert fields["flash.size"] == ["0x2000000 (32 MiB)"]
    assert fields["altboot"] == ["0x0040000", "0x0040000 *"]


def test_unknown_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "IP999"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("ipgwsim profiles: no hardware profile for 'IP999' (known: IP0011, ")
    assert err.count("\n") == 1


def test_profiles_dir_with_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text(TEMPLATE.replace("build = 145 ", 'build = "145" '), encoding="utf-8")
    assert main(["profiles", "--profiles-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"ipgwsim profiles: {bad}: boot.build: must be int, not str\n"


def test_profiles_dir_with_own_profiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    own = TEMPLATE.replace('model = "IP6000"', 'model = "IP6001"')
    (tmp_path / "lab.toml").write_text(own, encoding="utf-8")
    assert main(["profiles", "--profiles-dir", str(tmp_path)]) == 0
    table = rows(capsys.readouterr().out)
    assert "IP6001" in table
    assert "IP811" not in table
    assert main(["profiles", "ip6001", "--profiles-dir", str(tmp_path)]) == 0
    assert rows(capsys.readouterr().out)["source"] == [str(tmp_path / "lab.toml")]


def test_profiles_dir_that_is_no_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "--profiles-dir", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"ipgwsim profiles: {tmp_path / 'nowhere'}: is not a folder\n"


@pytest.mark.integration
def test_console_script_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ipgwsim.tools.cli", "profiles"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    table = rows(done.stdout)
    for model in MODELS:
        assert model in table
    assert table["IP811"][0] == "811*"
    assert done.stdout.rstrip().endswith(LEGEND)
