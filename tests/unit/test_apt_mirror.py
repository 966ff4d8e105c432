"""apt_mirror: the Debian archive the host's apt already uses, read from a fake root."""

from __future__ import annotations

from pathlib import Path

from drillkit.images.base import apt_mirror

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'

DEB822 = """\
Types: deb
URIs: http://security.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://disabled.example.org/debian
Suites: bookworm
Components: main
Enabled: no

# the archive itself
Types: deb
URIs: http://deb.debian.org/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def root(
    tmp_path: Path, os_release: str | None = DEBIAN, sources_list: str | None = None, **parts: str
) -> Path:
    """A fake filesystem root; ``parts`` are files of sources.list.d (``debian_sources=...``)."""
    etc = tmp_path / "etc"
    (etc / "apt" / "sources.list.d").mkdir(parents=True)
    if os_release is not None:
        (etc / "os-release").write_text(os_release)
    if sources_list is not None:
        (etc / "apt" / "sources.list").write_text(sources_list)
    for name, text in parts.items():
        stem, _, suffix = name.rpartition("_")
        (etc / "apt" / "sources.list.d" / f"{stem}.{suffix}").write_text(text)
    return tmp_path


def test_deb822_sources_skip_security_source_only_and_disabled_stanzas(tmp_path: Path) -> None:
    assert apt_mirror(root(tmp_path, debian_sources=DEB822)) == "http://deb.debian.org/debian"


def test_one_line_sources_skip_security_updates_and_deb_src(tmp_path: Path) -> None:
    sources_list = """\
# deb http://commented.example.org/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb-src http://src.example.org/debian bookworm main
deb http://updates.example.org/debian bookworm-updates main
deb [arch=amd64 signed-by=/usr/share/keyrings/d.gpg] http://mirror.example.org/debian/ bookworm main
deb http://later.example.org/debian bookworm main
"""

    assert apt_mirror(root(tmp_path, sources_list=sources_list)) == (
        "http://mirror.example.org/debian"
    )


def test_sources_list_comes_before_sources_list_d(tmp_path: Path) -> None:
    fake = root(
        tmp_path,
        sources_list="deb https://first.example.org/debian bookworm main\n",
        debian_sources=DEB822,
    )

    assert apt_mirror(fake) == "https://first.example.org/debian"


def test_sources_list_d_files_are_read_in_name_order(tmp_path: Path) -> None:
    fake = root(
        tmp_path,
        a_list="deb http://a.example.org/debian bookworm main\n",
        b_sources=DEB822,
    )

    assert apt_mirror(fake) == "http://a.example.org/debian"


def test_quoted_debian_id_is_debian(tmp_path: Path) -> None:
    fake = root(tmp_path, os_release='ID="debian"\n', debian_sources=DEB822)

    assert apt_mirror(fake) == "http://deb.debian.org/debian"


def test_not_debian_is_none(tmp_path: Path) -> None:
    fake = root(
        tmp_path,
        os_release=UBUNTU,
        sources_list="deb http://archive.ubuntu.com/ubuntu jammy main\n",
    )

    assert apt_mirror(fake) is None


def test_no_os_release_is_none(tmp_path: Path) -> None:
    assert apt_mirror(root(tmp_path, os_release=None, debian_sources=DEB822)) is None


def test_no_usable_mirror_is_none(tmp_path: Path) -> None:
    fake = root(
        tmp_path,
        sources_list="deb cdrom:[Debian 12]/ bookworm main\n"
        "deb http://security.debian.org/debian-security bookworm-security main\n",
    )

    assert apt_mirror(fake) is None
