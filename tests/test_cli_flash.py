"""``ipgwsim mkimage``, ``imageinfo`` and ``config-extract`` through ``cli.main``."""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path

import pytest

from ipgwsim.flash.formats import IMAGE_HEADER_SIZE
from ipgwsim.flash.image import ImageKind, WrongModel, parse_header, verify_image
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import Profile, find_profile
from ipgwsim.tools.cli import main

IP811 = find_profile("IP811")
IP6000 = find_profile("IP6000")


def one_line(err: str, command: str) -> str:
    """The single line of an error message on stderr, checked to be one line."""
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert err.startswith(f"ipgwsim {command}: "), err
    return err.strip()


def mkimage(tmp_path: Path, *args: str, name: str = "image.bin") -> Path:
    path = tmp_path / name
    assert main(["mkimage", *args, "-o", str(path)]) == 0
    return path


# -------------------- mkimage ---------------------------------------------------------


def test_mkimage_makes_an_image_the_profile_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mkimage(tmp_path, "--model", "IP811", "--size", "512K", "--seed", "7")
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("\n") == 1
    assert str(path) in out
    assert "IP811" in out
    data = path.read_bytes()
    assert len(data) == IMAGE_HEADER_SIZE + 512 * 1024
    info = verify_image(
        data,
        model="IP811",
        kinds=(ImageKind.FIRMWARE,),
        region_size=IP811.region("prot").size,
        boot_build=IP811.boot.build,
    )
    assert info.kind is ImageKind.FIRMWARE
    assert info.model == "IP811"
    assert info.build == IP811.firmware.build
    assert (info.boot_build, info.min_boot_build) == (0, 0)
    assert info.payload_length == 512 * 1024
    with pytest.raises(WrongModel):
        verify_image(
            data,
            model="IP6000",
            kinds=(ImageKind.FIRMWARE,),
            region_size=IP6000.region("prot").size,
        )


def test_mkimage_payload_is_deterministic(tmp_path: Path) -> None:
    a = mkimage(tmp_path, "--model", "811", "--seed", "1", name="a.bin").read_bytes()
    b = mkimage(tmp_path, "--model", "ip811", "--seed", "1", name="b.bin").read_bytes()
    c = mkimage(tmp_path, "--model", "IP811", "--seed", "2", name="c.bin").read_bytes()
    assert a == b
    assert a[IMAGE_HEADER_SIZE:] != c[IMAGE_HEADER_SIZE:]
    assert len(a) == len(c) == IMAGE_HEADER_SIZE + 64 * 1024  # the default size
    assert len(set(a[IMAGE_HEADER_SIZE:])) > 200  # pseudo-random, not a fill pattern


@pytest.mark.parametrize(
    ("size", "length"),
    [("0", 0), ("1000", 1000), ("512K", 512 * 1024), ("16M", 16 * 1024 * 1024), ("2k", 2048)],
)
def test_mkimage_sizes(tmp_path: Path, size: str, length: int) -> None:
    info = parse_header(mkimage(tmp_path, "--model", "IP6000", "--size", size).read_bytes())
    assert info.payload_length == length


def test_mkimage_boot_code_defaults(tmp_path: Path) -> None:
    data = mkimage(tmp_path, "--model", "IP6000", "--kind", "boot", "--size", "100K").read_bytes()
    info = verify_image(
        data,
        model="IP6000",
        kinds=(ImageKind.BOOT,),
        region_size=IP6000.region("boot").size,
    )
    assert info.build == str(IP6000.boot.build) == "145"
    assert info.boot_build == 145


def test_mkimage_explicit_fields(tmp_path: Path) -> None:
    args = ["--model", "IP800", "--kind", "rescue-boot", "--build", "358 rescue"]
    args += ["--boot-build", "358", "--min-boot-build", "300", "--size", "1K"]
    info = parse_header(mkimage(tmp_path, *args).read_bytes())
    assert info.kind is ImageKind.RESCUE_BOOT
    assert (info.model, info.build) == ("IP800", "358 rescue")
    assert (info.boot_build, info.min_boot_build) == (358, 300)


def test_mkimage_with_a_profiles_dir(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    text = (resources.files("ipgwsim.hw_profiles") / "ip811.toml").read_text(encoding="utf-8")
    assert '"13r2 sr14 [13.6042]"' in text
    (folder / "ip811.toml").write_text(text.replace('"13r2 sr14 [13.6042]"', '"my build"'))
    info = parse_header(
        mkimage(tmp_path, "--model", "IP811", "--profiles-dir", str(folder)).read_bytes()
    )
    assert info.build == "my build"


def test_mkimage_unknown_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.bin"
    assert main(["mkimage", "--model", "IP9999", "-o", str(path)]) == 2
    out, err = capsys.readouterr()
    line = one_line(err, "mkimage")
    assert "IP9999" in line
    for model in ("IP811", "IP6000", "IP800"):
        assert model in line
    assert out == ""
    assert not path.exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--size", "12X"], "--size"),
        (["--size", "-1"], "--size"),
        (["--size", "5G"], "--size"),
        (["--build", "x" * 21], "--build"),
        (["--build", "Zürich"], "--build"),
        (["--boot-build", "70000"], "--boot-build"),
        (["--min-boot-build", "-1"], "--min-boot-build"),
    ],
)
def test_mkimage_bad_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    path = tmp_path / "x.bin"
    assert main(["mkimage", "--model", "IP811", *args, "-o", str(path)]) == 2
    assert words in one_line(capsys.readouterr().err, "mkimage")
    assert not path.exists()


def test_mkimage_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing-folder" / "x.bin"
    assert main(["mkimage", "--model", "IP811", "-o", str(target)]) == 2
    assert "missing-folder" in one_line(capsys.readouterr().err, "mkimage")


# -------------------- imageinfo ----------------------------------------------------------


def info_lines(out: str) -> dict[str, str]:
    fields = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def test_imageinfo_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = mkimage(tmp_path, "--model", "IP811", "--size", "1000", "--min-boot-build", "600")
    capsys.readouterr()
    assert main(["imageinfo", str(path), "--model", "IP811"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-1] == "valid"
    fields = info_lines(out)
    assert fields["kind"] == "firmware"
    assert fields["model"] == "IP811"
    assert fields["build"] == IP811.firmware.build
    assert fields["min boot build"] == "600"
    assert fields["payload"].startswith("1000 bytes, crc32 0x")
    assert "boot code build 614" in fields["checked against"]

    assert main(["imageinfo", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "valid"


def flip_file(path: Path, index: int) -> None:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("index", "problem"),
    [
        (IMAGE_HEADER_SIZE + 17, "invalid: image payload checksum mismatch: firmware is damaged"),
        (-1, "invalid: image payload checksum mismatch: firmware is damaged"),
        (30, "invalid: image header is damaged (header checksum mismatch)"),
        (0, "invalid: not an image: it starts with b'HPGWIMG1', not b'IPGWIMG1'"),
    ],
)
def test_imageinfo_reports_a_flipped_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], index: int, problem: str
) -> None:
    path = mkimage(tmp_path, "--model", "IP811", "--size", "4K")
    flip_file(path, index)
    capsys.readouterr()
    assert main(["imageinfo", str(path), "--model", "IP811"]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-1] == problem
    assert "valid" not in out.splitlines()[:-1]
    assert main(["imageinfo", str(path)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == problem


def check_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: list[str], model: str
) -> str:
    path = mkimage(tmp_path, *make)
    capsys.readouterr()
    assert main(["imageinfo", str(path), "--model", model]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("invalid: ")
    return last


def test_imageinfo_wrong_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    last = check_refusal(tmp_path, capsys, ["--model", "IP811"], "IP6000")
    assert last == "invalid: image is for IP811, this device is an IP6000"


def test_imageinfo_boot_too_old(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make = ["--model", "IP811", "--min-boot-build", "700"]
    last = check_refusal(tmp_path, capsys, make, "IP811")
    assert last == "invalid: image needs boot code build 700 or later, this device has 614"


def test_imageinfo_no_space(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make = ["--model", "IP6000", "--kind", "boot", "--size", "512K"]
    last = check_refusal(tmp_path, capsys, make, "IP6000")
    assert "Error 0x00130001 Major FLASHMAN0 no space" in last
    assert "'boot'" in last


def test_imageinfo_rescue_boot_on_a_model_without_rescue_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    last = check_refusal(tmp_path, capsys, ["--model", "IP6000", "--kind", "rescue-boot"], "IP6000")
    assert last == "invalid: image is rescue boot code, expected firmware or boot code"


def test_imageinfo_truncated_and_trailing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mkimage(tmp_path, "--model", "IP811", "--size", "2K")
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    capsys.readouterr()
    assert main(["imageinfo", str(path)]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"invalid: image is truncated: {len(data) - 100} of {len(data)} bytes"
    path.write_bytes(data + b"\n")
    assert main(["imageinfo", str(path)]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == "invalid: image has 1 bytes after its payload of 2048"


def test_imageinfo_not_an_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "random.bin"
    path.write_bytes(random.Random(3).randbytes(300))
    assert main(["imageinfo", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("invalid: not an image")
    assert "kind" not in info_lines(out)


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["imageinfo", "{tmp}/missing.bin"], "missing.bin"),
        (["imageinfo", "{tmp}/image.bin", "--model", "IP9999"], "IP9999"),
        (["config-extract", "{tmp}/missing.dump"], "missing.dump"),
    ],
)
def test_error_paths_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], word: str
) -> None:
    mkimage(tmp_path, "--model", "IP811", "--size", "1K")
    capsys.readouterr()
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert word in one_line(err, argv[0])


# -------------------- config-extract ----------------------------------------------------

TEXTS = [
    "config change IP0 /addr 192.168.0.2\r\n",
    "config change IP0 /addr 192.168.0.3\r\nconfig change CMD0 /location Zürich\r\n",
    "config change IP0 /addr 10.0.0.9\r\nconfig change CMD0 /location Köln\r\n",
]


def ring_dump(profile: Profile = IP6000, texts: list[str] = TEXTS) -> tuple[bytes, ConfigRing]:
    ring = ConfigRing(PartitionTable(NorFlash(profile.flash), profile)["config"])
    for text in texts:
        ring.write(text)
    return ring.dump(), ring


def extract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dump: bytes, *more: str
) -> tuple[int, str, str]:
    path = tmp_path / "config.dump"
    path.write_bytes(dump)
    capsys.readouterr()
    status = main(["config-extract", str(path), *more])
    out, err = capsys.readouterr()
    return status, out, err


def test_config_extract_finds_the_newest_generation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump, ring = ring_dump()
    assert [g.number for g in ring.generations()] == [1, 2, 3]
    assert b"# config generation" not in dump
    status, out, err = extract(tmp_path, capsys, dump)
    assert status == 0
    assert out == TEXTS[2]
    line = one_line(err, "config-extract")
    assert "generation 3 of 3" in line
    assert "from line 4" in line


def test_config_extract_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump, _ = ring_dump()
    target = tmp_path / "config.txt"
    status, out, err = extract(tmp_path, capsys, dump, "-o", str(target))
    assert status == 0
    assert out == ""
    assert target.read_bytes() == TEXTS[2].encode("utf-8")
    line = one_line(err, "config-extract")
    assert "generation 3 of 3" in line
    assert str(target) in line


def test_config_extract_after_a_cut_line_at_the_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump, _ = ring_dump()
    status, out, err = extract(tmp_path, capsys, b"cation Bern\r\n" + dump)
    assert status == 0
    assert out == TEXTS[2]
    assert "generation 3 of 3" in one_line(err, "config-extract")


def test_config_extract_skips_a_torn_newest_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump, _ = ring_dump()
    status, out, err = extract(tmp_path, capsys, dump[:-5])
    assert status == 0
    assert out == TEXTS[1]
    assert "generation 2 of 3" in err
    assert "from line 4) is taken for a write cut by a power loss" in err
    assert "its last line has no line end" in err


def test_config_extract_after_the_ring_wrapped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    filler = "config change X /pad " + "x" * 50_000 + "\r\n"
    texts = [f"config change CMD0 /name gw{i}\r\n{filler}" for i in range(12)]
    dump, ring = ring_dump(texts=texts)
    kept = ring.generations()
    assert 1 < len(kept) < 12
    assert kept[-1].number == 12
    status, out, err = extract(tmp_path, capsys, dump)
    assert status == 0
    assert out == texts[-1]
    assert f"generation {len(kept)} of {len(kept)}" in one_line(err, "config-extract")


@pytest.mark.parametrize(
    "dump",
    [b"", random.Random(5).randbytes(5000), b"# config generation 00000001 length 00000005\r\n"],
)
def test_config_extract_without_a_generation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dump: bytes
) -> None:
    target = tmp_path / "config.txt"
    status, out, err = extract(tmp_path, capsys, dump, "-o", str(target))
    assert status == 1
    assert out == ""
    assert "holds no complete config generation" in one_line(err, "config-extract")
    assert not target.exists()


def test_imageinfo_checks_a_firmware_against_the_firmware_pool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prot = IP811.region("prot").size
    lower = IP811.region("flashdir").size // IP811.flash.sector_size // 2
    pool = prot + (lower - 1) * IP811.flash.sector_size
    larger = mkimage(tmp_path, "--model", "IP811", "--size", "13M", name="larger.bin")
    assert len(larger.read_bytes()) > prot  # it continues into flashdir
    capsys.readouterr()
    assert main(["imageinfo", str(larger), "--model", "IP811"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "valid"
    assert f"region 'prot+flashdir' of {pool} bytes" in info_lines(out)["checked against"]
    last = check_refusal(tmp_path, capsys, ["--model", "IP811", "--size", "22M"], "IP811")
    assert "Error 0x00130001 Major FLASHMAN0 no space" in last
    assert f"region 'prot+flashdir' has {pool} bytes" in last
