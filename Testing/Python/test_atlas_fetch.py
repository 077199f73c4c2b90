"""fetch-atlas end to end against a real HTTP server on 127.0.0.1 serving a synthetic release archive.

The archive has the release tree (``eye_atlas/`` with male/ female/ combined/, mni152/, colin27/, ...); male/
and female/ are copies of the synthetic combined/ folder to save rendering time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("pooch")

from EyeAtlasSegmentLib import cli  # noqa: E402
from EyeAtlasSegmentLib.atlas import load_atlas, load_standard_space  # noqa: E402
from EyeAtlasSegmentLib.atlas_fetch import Release, fetch_atlas  # noqa: E402
from EyeAtlasSegmentLib.errors import AtlasError  # noqa: E402
from EyeAtlasSegmentLib.release_layout import ITKSNAP_NAME, MANUAL_SEG_NAME, SEXES  # noqa: E402

ARCHIVE = "C_eye_atlas.zip"


def _zip_tree(tree: Path, zip_path: Path, root_name: str, skip: tuple[str, ...] = ()) -> bytes:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zipped:
        for path in sorted(tree.rglob("*")):
            relative = path.relative_to(tree).as_posix()
            if path.is_file() and relative not in skip:
                zipped.write(path, f"{root_name}/{relative}")
    return zip_path.read_bytes()


@pytest.fixture(scope="module")
def release_tree(synthetic_atlas_dir, tmp_path_factory) -> Path:
    """The synthetic release with all three sex folders."""
    tree = tmp_path_factory.mktemp("release") / "eye_atlas"
    shutil.copytree(synthetic_atlas_dir, tree)
    for sex in SEXES:
        if not (tree / sex).is_dir():
            shutil.copytree(tree / "combined", tree / sex, ignore=shutil.ignore_patterns(MANUAL_SEG_NAME, ITKSNAP_NAME))
    return tree


@pytest.fixture(scope="module")
def archive_bytes(release_tree, tmp_path_factory) -> bytes:
    return _zip_tree(release_tree, tmp_path_factory.mktemp("zip") / ARCHIVE, "eye_atlas")


class _Server:
    """What the local server sends: the archive, its Zenodo-style record, and faults for the next requests."""

    def __init__(self, archive: bytes):
        self.archive = archive
        self.corrupt_next = 0  # send this many downloads with flipped bytes
        self.truncate_next = 0  # send this many downloads cut in half (Content-Length of the whole)
        self.downloads = 0

    def handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                if self.path.startswith("/api/records/"):
                    body = json.dumps({"id": 1, "files": [
                        {"key": "A_preview_figure.png", "checksum": "md5:00"},
                        {"key": ARCHIVE, "checksum": "md5:" + hashlib.md5(server.archive).hexdigest()}]}).encode()
                    return self._send(body, len(body))
                if self.path != f"/files/{ARCHIVE}":
                    return self.send_error(404)
                server.downloads += 1
                body = server.archive
                if server.corrupt_next:
                    server.corrupt_next -= 1
                    body = body[:1000] + bytes(b ^ 0xFF for b in body[1000:1100]) + body[1100:]
                if server.truncate_next:
                    server.truncate_next -= 1
                    self._send(body[:len(body) // 2], len(body))
                    self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-download
                    return
                self._send(body, len(body))

            def _send(self, body: bytes, length: int):
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

        return Handler


@pytest.fixture
def server(archive_bytes):
    state = _Server(archive_bytes)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


def _local_release(server: _Server, pinned_hash: bool = True) -> Release:
    """The pinned release, served by the local server (with its record's checksum API)."""
    return dataclasses.replace(Release.pinned(), url=f"{server.base_url}/files/{ARCHIVE}",
                               sha256=hashlib.sha256(server.archive).hexdigest() if pinned_hash else None,
                               record_api=f"{server.base_url}/api/records/1")


def test_the_release_is_downloaded_checked_unpacked_and_loads(server, tmp_path):
    messages = []
    root = fetch_atlas(tmp_path, progress=lambda f, m: messages.append((f, m)), release=_local_release(server))
    assert root == tmp_path / "eye_atlas"
    for sex in SEXES:
        assert load_atlas(root, sex).labels_dtype == "float64"
    assert load_standard_space(tmp_path, "mni152").image.GetSize() == (193, 229, 193)
    assert messages[-1] == (1.0, f"downloaded {ARCHIVE}") and 2 < len(messages) < 30
    # A second call re-checks the kept archive and downloads nothing.
    assert fetch_atlas(tmp_path, release=_local_release(server)) == root
    assert server.downloads == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE, "eye_atlas"]


def test_a_corrupted_download_is_retried(server, tmp_path):
    server.corrupt_next = 1
    root = fetch_atlas(tmp_path, release=_local_release(server), retries=1)
    assert server.downloads == 2
    assert load_atlas(root, "combined").sex == "combined"


def test_a_download_that_stays_corrupted_is_refused_and_nothing_is_kept(server, tmp_path):
    server.corrupt_next = 5
    with pytest.raises(AtlasError, match="corrupted or incomplete in 2 attempts") as error:
        fetch_atlas(tmp_path, release=_local_release(server), retries=1)
    assert "\n" not in str(error.value)
    assert server.downloads == 2
    assert list(tmp_path.iterdir()) == []


def test_a_partial_download_is_retried_then_refused(server, tmp_path):
    server.truncate_next = 1
    fetch_atlas(tmp_path / "once", release=_local_release(server), retries=1)
    assert server.downloads == 2
    server.truncate_next = 5
    with pytest.raises(AtlasError) as error:
        fetch_atlas(tmp_path / "always", release=_local_release(server), retries=1)
    assert "\n" not in str(error.value) and "2 attempts" in str(error.value)
    assert list((tmp_path / "always").iterdir()) == []


def test_a_corrupted_archive_on_disk_is_downloaded_again(server, tmp_path):
    fetch_atlas(tmp_path, release=_local_release(server))
    archive = tmp_path / ARCHIVE
    archive.write_bytes(archive.read_bytes()[:-10])
    fetch_atlas(tmp_path, release=_local_release(server))
    assert server.downloads == 2
    assert archive.read_bytes() == server.archive


def test_without_a_pinned_hash_the_records_published_checksum_is_used(server, tmp_path):
    root = fetch_atlas(tmp_path, release=_local_release(server, pinned_hash=False))
    assert (root / "combined" / "0_template.nii.gz").is_file()
    server.corrupt_next = 5
    with pytest.raises(AtlasError, match="checksum md5 does not match"):
        fetch_atlas(tmp_path / "again", release=_local_release(server, pinned_hash=False), retries=0)


def test_an_archive_rooted_at_C_eye_atlas_is_accepted(release_tree, server, tmp_path):
    server.archive = _zip_tree(release_tree, tmp_path / "c.zip", "C_eye_atlas")
    root = fetch_atlas(tmp_path / "dest", release=_local_release(server))
    assert root.name == "C_eye_atlas"
    assert load_atlas(tmp_path / "dest", "female").folder == root / "female"


def test_an_archive_without_a_sex_folder_is_refused(release_tree, server, tmp_path):
    skip = tuple(f"male/{p.name}" for p in (release_tree / "male").iterdir())
    server.archive = _zip_tree(release_tree, tmp_path / "c.zip", "eye_atlas", skip=skip)
    with pytest.raises(AtlasError, match="incomplete: it lacks male/0_template.nii.gz, male/1_max_prob_map"):
        fetch_atlas(tmp_path / "dest", release=_local_release(server))
    assert not (tmp_path / "dest" / "eye_atlas").exists()


def test_the_command_prints_where_the_atlas_is_and_its_citation(server, tmp_path, capsys):
    digest = hashlib.sha256(server.archive).hexdigest()
    status = cli.main(["fetch-atlas", "--dest", str(tmp_path), "--url", f"{server.base_url}/files/{ARCHIVE}",
                       "--sha256", digest])
    out = capsys.readouterr().out
    assert status == 0
    assert f"  {tmp_path / 'eye_atlas'}\n" in out
    assert "CC BY 4.0" in out and "doi.org/10.1371/journal.pone.0352257" in out and "zenodo.13325369" in out
    assert f"--atlas {tmp_path / 'eye_atlas'}" in out


def test_a_wrong_hash_on_the_command_line_is_one_line_and_exit_1(server, tmp_path, capsys):
    status = cli.main(["fetch-atlas", "--dest", str(tmp_path), "--url", f"{server.base_url}/files/{ARCHIVE}",
                       "--sha256", "0" * 64])
    last_line = capsys.readouterr().err.splitlines()[-1]
    assert status == 1
    assert last_line.startswith("error: the download of C_eye_atlas.zip was corrupted or incomplete in 3 attempts")
