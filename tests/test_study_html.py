"""The study's index.html in a real headless browser (Debian's chromium; .ci/run installs it): the page
loads, every plot decodes to its PNG's size, and the page fetches nothing from the network."""

from __future__ import annotations

import html.parser
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
import yaml

from simulator import study
from tests.conftest import make_config

# Marks each image with its decoded width once the page has loaded; injected into a copy of the page.
_PROBE = ("<script>window.addEventListener('load',()=>{for(const im of document.images)"
          "{im.setAttribute('data-decoded-width',im.naturalWidth)}"
          "document.documentElement.setAttribute('data-loaded','yes')})</script>")
_BROKEN_PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"


class _Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[dict] = []
        self.root: dict = {}

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag == "html":
            self.root = dict(attrs)


def _chromium() -> str:
    exe = shutil.which("chromium")
    assert exe, "chromium is not installed (apt-get install -y chromium; .ci/run does it)"
    return exe


def _load(page: Path, tmp_path: Path, tag: str) -> tuple[_Images, list[dict]]:
    """The DOM after load and the network requests the page itself started (the browser's own
    background requests have no initiator; a file:// page's have the opaque origin 'null')."""
    probe = tmp_path / f"{tag}.html"
    probe.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    net_log = tmp_path / f"{tag}-net.json"
    proc = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / tag}",
         f"--log-net-log={net_log}", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _Images()
    dom.feed(proc.stdout)
    log = json.loads(net_log.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    page_requests = [e["params"] for e in log["events"]
                     if names[e["type"]] == "URL_REQUEST_START_JOB" and "url" in e.get("params", {})
                     and e["params"].get("initiator") != "not an origin"]
    return dom, page_requests


def _png_width(data_uri: str) -> int:
    import base64

    raw = base64.b64decode(data_uri.split(",", 1)[1])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">I", raw[16:20])[0]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    base = make_config(tmp, "base.yaml")
    path = tmp / "s.yaml"
    path.write_text(yaml.safe_dump({
        "name": "html_check", "description": "A <small> study & its plots", "base": str(base),
        "axes": {"workload": ["tiny_cnn", "tiny_mlp"], "memories.spm_act.banks": [4, 8]},
        "plots": [{"name": "energy", "x": "workload", "y": "energy_total_pj", "series": "memories.spm_act.banks"},
                  {"name": "cycles", "kind": "line", "x": "memories.spm_act.banks", "y": "total_cycles",
                   "series": "workload"}]}))
    out = tmp / "out"
    study.run(str(path), out=out, workers=1)
    return out / "index.html"


def test_report_loads_with_every_plot_decoded_and_no_fetch(report, tmp_path):
    text = report.read_text()
    assert not re.search(r"https?://", text)
    dom, requests = _load(report, tmp_path, "report")
    assert dom.root.get("data-loaded") == "yes"
    assert len(dom.images) == 2 and len(list((report.parent / "plots").glob("*.png"))) == 2
    for im in dom.images:
        assert im["src"].startswith("data:image/png;base64,")
        assert int(im["data-decoded-width"]) == _png_width(im["src"])
    assert requests == []
    assert "A &lt;small&gt; study &amp; its plots" in text


def test_the_browser_check_catches_broken_images_and_fetches(report, tmp_path):
    # The same probe on a page with a corrupt image and an external one must flag both.
    bad = tmp_path / "bad.html"
    bad.write_text(report.read_text().replace("</body>", f'<img src="{_BROKEN_PNG}">'
                                              '<img src="http://127.0.0.1:9/x.png"></body>'))
    dom, requests = _load(bad, tmp_path, "bad")
    widths = [int(im["data-decoded-width"]) for im in dom.images]
    assert len(widths) == 4 and widths[2:] == [0, 0] and all(w > 0 for w in widths[:2])
    assert [r["url"] for r in requests] == ["http://127.0.0.1:9/x.png"]
