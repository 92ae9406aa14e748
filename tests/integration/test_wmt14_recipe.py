"""The WMT'14 recipe on a tiny local mirror of its files' formats (tar archives of plain, .gz
and .xz bitexts, the ntst1213/ntst14 dev and test sets; a Moses 1000-best list given with
--nbest-dir): checksums, resumed downloads (a local copy and a local HTTP server that drops the
first connection), lists checked before anything runs, and the WMT'14 pipeline's dry run."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import json
import lzma
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[2]


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def lines(prefix: str, n: int) -> bytes:
    return "".join(f"{prefix} {i} .\n" for i in range(n)).encode()


def make_mirror(root: Path, fr_lines: int = 3) -> Path:
    mirror = root / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / "bitexts.tgz", "w:gz") as tar:
        add(tar, "bitexts.selected/nc9.en.gz", gzip.compress(lines("news", 3)))
        add(tar, "bitexts.selected/nc9.fr.gz", gzip.compress(lines("nouvelles", fr_lines)))
        add(tar, "bitexts.selected/ep7_pc45.en.xz", lzma.compress(lines("europarl", 4)))
        add(tar, "bitexts.selected/ep7_pc45.fr.xz", lzma.compress(lines("europarl fr", 4)))
        # large enough that a cut transfer leaves a real partial file
        add(tar, "bitexts.selected/padding.txt", bytes(range(256)) * 4096)
    with tarfile.open(mirror / "dev+test.tgz", "w:gz") as tar:
        add(tar, "dev/ntst1213.en", lines("dev", 2))
        add(tar, "dev/ntst1213.fr", lines("dév", 2))
        add(tar, "test/ntst14.en", lines("test", 2))
        add(tar, "test/ntst14.fr", lines("essai", 2))
    return mirror


def make_lists(root: Path) -> Path:
    folder = root / "lists"
    folder.mkdir()
    entries = "".join(f"{s} ||| essai {s} . ||| LM0= -{k}.5 WordPenalty0= -3 ||| -{k}\n"
                      for s in range(2) for k in range(3))
    (folder / "test.1000best").write_text(entries)
    return folder


def sums_of(mirror: Path, root: Path) -> Path:
    """The mirror's own MD5s (the tiny archives are not LIUM's: the pinned sums would refuse
    them, which test_the_pinned_sums_refuse_other_files checks)."""
    path = root / "sums.json"
    path.write_text(json.dumps({p.name: hashlib.md5(p.read_bytes()).hexdigest()
                                for p in mirror.glob("*.tgz")}))
    return path


def prepare(mirror: Path | str, out: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "data/wmt14/prepare.py"), "--mirror",
                           str(mirror), "--output", str(out), *map(str, extra)],
                          capture_output=True, text=True, check=False)


def test_recipe_lays_out_the_data(tmp_path: Path) -> None:
    out = tmp_path / "wmt14"
    mirror = make_mirror(tmp_path)
    result = prepare(mirror, out, "--checksums", sums_of(mirror, tmp_path), "--nbest-dir",
                     make_lists(tmp_path))
    assert result.returncode == 0, result.stderr
    train_en = gzip.decompress((out / "train.en.gz").read_bytes()).decode().splitlines()
    train_fr = gzip.decompress((out / "train.fr.gz").read_bytes()).decode().splitlines()
    assert len(train_en) == len(train_fr) == 7
    assert train_en[0] == "news 0 ." and train_fr[3] == "europarl fr 0 ."  # pairs stay aligned
    assert (out / "valid.fr").read_text().splitlines() == ["dév 0 .", "dév 1 ."]
    assert (out / "test.en").read_text().splitlines() == ["test 0 .", "test 1 ."]
    nbest = gzip.decompress((out / "nbest/test.1000best.gz").read_bytes()).decode()
    assert nbest.count("\n") == 6 and nbest.startswith("0 ||| essai 0 .")
    # an archive changed after the download is refused on the next run
    (out / "download/dev+test.tgz").write_bytes(b"tampered")
    again = prepare(mirror, out, "--checksums", sums_of(mirror, tmp_path))
    assert again.returncode == 2 and "dev+test.tgz: MD5" in again.stderr
    assert "is not the pinned" in again.stderr and "Traceback" not in again.stderr


def test_the_pinned_sums_refuse_other_files(tmp_path: Path) -> None:
    """Without --checksums the LIUM archives' public MD5s are checked: the tiny mirror's
    archive is refused, named, with what to do, and nothing is unpacked or kept."""
    out = tmp_path / "wmt14"
    result = prepare(make_mirror(tmp_path), out)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "bitexts.tgz: no location gave the file with the pinned MD5" in result.stderr
    assert "15861dbac4a52c8c75561d5027062d7d" in result.stderr and "--mirror" in result.stderr
    assert not list((out / "download").iterdir()) and not (out / "train.en.gz").exists()


def test_missing_lists_fail_before_any_download(tmp_path: Path) -> None:
    out = tmp_path / "wmt14"
    empty = tmp_path / "lists"
    empty.mkdir()
    result = prepare(make_mirror(tmp_path), out, "--nbest-dir", empty)
    assert result.returncode == 2 and "no test.1000best or test.1000best.gz" in result.stderr
    assert not out.exists()


def test_an_interrupted_local_copy_resumes(tmp_path: Path) -> None:
    mirror = make_mirror(tmp_path)
    out = tmp_path / "wmt14"
    whole = (mirror / "bitexts.tgz").read_bytes()
    (out / "download").mkdir(parents=True)
    (out / "download/bitexts.tgz.part").write_bytes(whole[: len(whole) // 3])
    result = prepare(mirror, out, "--checksums", sums_of(mirror, tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"resuming after {len(whole) // 3:,} bytes" in result.stderr
    assert (out / "download/bitexts.tgz").read_bytes() == whole
    # a partial file with the wrong bytes is never taken: fetched again from the start
    (out / "download/bitexts.tgz").unlink()
    (out / "download/bitexts.tgz.part").write_bytes(b"x" * (len(whole) // 2))
    result = prepare(mirror, out, "--checksums", sums_of(mirror, tmp_path))
    assert result.returncode == 0, result.stderr
    assert "fetching it from the start" in result.stderr
    assert (out / "download/bitexts.tgz").read_bytes() == whole


class FlakyServer(http.server.SimpleHTTPRequestHandler):
    """Serves the mirror with HTTP range requests; the first transfer of each file stops
    after a third of its bytes (a dropped connection)."""

    cut: ClassVar[set[str]] = set()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if path.name not in self.cut:
            self.cut.add(path.name)
            body = body[: len(body) // 3]
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True


def test_an_interrupted_download_resumes_over_http(tmp_path: Path) -> None:
    mirror = make_mirror(tmp_path)
    handler = functools.partial(FlakyServer, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out = tmp_path / "wmt14"
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = prepare(url, out, "--checksums", sums_of(mirror, tmp_path))
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr
    assert "resuming after" in result.stderr and "interrupted" not in result.stderr
    for name in ("bitexts.tgz", "dev+test.tgz"):
        assert (out / "download" / name).read_bytes() == (mirror / name).read_bytes()
    assert not list((out / "download").glob("*.part"))


def test_recipe_rejects_misaligned_bitexts(tmp_path: Path) -> None:
    out = tmp_path / "wmt14"
    mirror = make_mirror(tmp_path, fr_lines=2)
    result = prepare(mirror, out, "--checksums", sums_of(mirror, tmp_path))
    assert result.returncode == 2 and "nc9.en.gz:3: more lines than" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(out.glob("train.*"))  # no output, no temporary file


def test_missing_mirror_is_one_clear_error(tmp_path: Path) -> None:
    result = prepare(tmp_path / "nowhere", tmp_path / "out")
    assert result.returncode == 2 and "bitexts.tgz: cannot fetch" in result.stderr


def test_the_pipeline_asks_for_the_lists_before_it_trains(tmp_path: Path) -> None:
    base = [sys.executable, str(ROOT / "pipelines/wmt14.py"), "--workdir", str(tmp_path / "w")]
    for extra in ([], ["--nbest-dir", str(tmp_path)]):
        result = subprocess.run([*base, *extra], capture_output=True, text=True, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "--no-table2" in result.stderr and "test.1000best" in result.stderr
        assert not (tmp_path / "w").exists()  # nothing fetched, nothing trained
    result = subprocess.run([*base, "--dry-run", "--no-table2"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "score-test" not in result.stdout and "translate-ens5-b12" in result.stdout


@pytest.mark.parametrize("gpus", [1, 8])
def test_pipeline_dry_run_lists_every_stage(tmp_path: Path, gpus: int) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "pipelines/wmt14.py"), "--dry-run",
                             "--gpus", str(gpus), "--workdir", str(tmp_path / "w"),
                             "--nbest-dir", str(make_lists(tmp_path))],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    stages = [ln.split()[2].rstrip(":") for ln in result.stdout.splitlines()
              if ln.startswith("[run ]")]
    assert stages[0] == "data" and stages[-1] == "report"
    assert [s for s in stages if s.startswith("train-")] == [
        "train-rev1", "train-rev2", "train-rev3", "train-rev4", "train-rev5", "train-fwd"]
    assert {"translate-ens5-b12", "score-test", "average-LSTMEnsemble0", "oracle"} <= set(stages)
    assert f"--nproc_per_node {gpus} -m rescore.cli.train --preset sutskever2014" in result.stdout
    assert not (tmp_path / "w").exists()  # a dry run writes nothing
