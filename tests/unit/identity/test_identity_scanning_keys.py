"""The secret scanner's keys file: reports verify against it, and a changed file is re-read."""

from __future__ import annotations

import os
from pathlib import Path

from fireline_identity.adapters.scanning_keys import ScanningKeyFile
from support.secret_scanning import Scanner, report, write_keys_file


def test_a_report_verifies_only_with_its_own_key_and_exact_body(tmp_path: Path) -> None:
    scanner, stranger = Scanner("k1"), Scanner("k2")
    path = tmp_path / "keys.json"
    write_keys_file(path, scanner)
    keys = ScanningKeyFile(path)
    body = report("flk_whatever")

    assert keys.verify(body, "k1", scanner.sign(body))
    assert not keys.verify(body + b" ", "k1", scanner.sign(body))
    assert not keys.verify(body, "k1", stranger.sign(body))
    assert not keys.verify(body, "k2", stranger.sign(body))  # not in the file
    assert not keys.verify(body, "k1", "not base64!")
    assert not keys.verify(body, None, scanner.sign(body))
    assert not keys.verify(body, "k1", None)


def test_a_changed_file_is_re_read_and_a_broken_one_keeps_the_last_keys(tmp_path: Path) -> None:
    old, new = Scanner("old"), Scanner("new")
    path = tmp_path / "keys.json"
    keys = ScanningKeyFile(path)
    body = report("flk_whatever")
    assert not keys.verify(body, "old", old.sign(body))  # no file yet: nothing verifies

    write_keys_file(path, old)
    assert keys.verify(body, "old", old.sign(body))

    write_keys_file(path, new)
    # Same second and size are possible on a fast machine; the nanosecond mtime tells them apart,
    # but make the change unmistakable rather than rely on the file system's resolution.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert keys.verify(body, "new", new.sign(body))
    assert not keys.verify(body, "old", old.sign(body))

    path.write_text("{half written")
    assert keys.verify(body, "new", new.sign(body))
