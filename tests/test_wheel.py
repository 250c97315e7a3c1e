"""The installed wheel, as a user gets it: built with ``python -m build`` (the sdist, then the
wheel from the sdist), installed into a fresh virtual environment outside the checkout, and
run from another folder, with no source tree and no node_modules/ to lean on.

Building needs npm (the wheel bundles the locked browser assets) and PyPI (the build
backend and bpkg's dependencies; pip's cache makes a second run quick).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from rdflib import Graph, Literal
from rdflib.namespace import OWL

import bpkg
from bpkg import plots, publishing

from conftest import ROOT, free_port, stop_server

pytestmark = pytest.mark.slow

BIN = "Scripts" if os.name == "nt" else "bin"


def _run(argv, cwd, env, timeout=600, check=True):
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bpkg command, environment, a working folder outside the checkout) of a fresh venv
    holding only the wheel and its dependencies."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: building the wheel bundles the browser assets from the npm registry")
    pytest.importorskip("build", reason="the build frontend is not installed (pip install -e '.[test]')")
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(ROOT.resolve()), "the venv must be outside the checkout"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    dist = base / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], cwd=base, env=env, timeout=900)
    wheels, sdists = sorted(dist.glob("bpkg-*.whl")), sorted(dist.glob("bpkg-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    assert wheels[0].name == f"bpkg-{bpkg.__version__}-py3-none-any.whl"

    # A bare venv, filled by this pip (pip --python): ensurepip and byte-compiling every
    # dependency would add half a minute on a busy 2-core machine and test nothing of ours.
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=base, env=env)
    _run([sys.executable, "-m", "pip", "--python", str(venv / BIN / "python"), "install", "--quiet", "--no-compile",
          str(wheels[0])], cwd=base, env=env, timeout=900)
    env["PATH"] = str(venv / BIN) + os.pathsep + env.get("PATH", "")
    work = base / "elsewhere"
    work.mkdir()
    return str(venv / BIN / "bpkg"), env, work


def bpkg_cli(installed, *args, check=True):
    command, env, work = installed
    return _run([command, *args], cwd=work, env=env, timeout=300, check=check)


def data_folder(installed) -> Path:
    release, data = bpkg_cli(installed, "--version").stdout.splitlines()
    return Path(data.removeprefix("data: "))


def test_version_names_the_release_and_the_installed_data(installed):
    assert bpkg_cli(installed, "--version").stdout.splitlines()[0] == f"bpkg {bpkg.__version__}"
    data = data_folder(installed)
    assert (data.parent.name, data.name) == ("bpkg", "data") and "site-packages" in data.parts
    assert not data.is_relative_to(ROOT), "the data is the wheel's, not the checkout's"
    for folder in ("ontology", "kg", "shapes", "queries", "examples"):
        assert (data / folder).is_dir(), folder
    assert not (data / "node_modules" / "rdf-test-suite").exists(), "only the listed browser assets are bundled"


def test_stats_counts_the_same_graph_as_the_checkout(installed, kg):
    stats = json.loads(bpkg_cli(installed, "stats", "--format", "json").stdout)
    assert stats["triples"] == len(kg) and stats["graphs"] == len(kg.graph_names)


def test_validate_the_graph_and_the_installed_examples(installed):
    assert bpkg_cli(installed, "validate").stdout.rstrip().endswith("conforms: true")
    invalid = bpkg_cli(installed, "validate", str(data_folder(installed) / "examples" / "project-invalid.ttl"),
                       check=False)
    assert invalid.returncode == 1 and "gcm:24" in invalid.stdout, invalid.stdout[-2000:]


@pytest.mark.parametrize("figure", ["map", "matrix", "timeline"])
def test_plots_draw_with_the_bundled_geometry(installed, figure):
    out = installed[2] / f"{figure}.svg"
    bpkg_cli(installed, "plot", figure, "--out", str(out))
    assert out.stat().st_size > 10_000 and b"<svg" in out.read_bytes()[:500]


def test_export_all_matches_the_checkout_byte_for_byte(installed, kg):
    out = installed[2] / "export"
    bpkg_cli(installed, "export", "--format", "all", "--out", str(out))
    assert sorted(p.name for p in out.iterdir()) == sorted(f.filename for f in publishing.FORMS.values())
    assert (out / "bpkg.nq").read_bytes() == publishing.dump(kg, "nquads"), "same graph, same named graphs"
    void = Graph().parse(out / "void.ttl", format="turtle")
    assert void.value(publishing.DATASET, OWL.versionInfo) == Literal(bpkg.__version__)


# -- the served site, in a real browser --------------------------------------------------------

@pytest.fixture(scope="module")
def served(installed, tmp_path_factory):
    command, env, work = installed
    port = free_port()
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("wb")
    proc = subprocess.Popen([command, "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"bpkg serve exited with {proc.returncode}; log: {Path(log.name).read_text()[-2000:]}")
        try:
            requests.get(base + "/sparql", timeout=2)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                stop_server(proc)
                raise AssertionError("bpkg serve did not answer within 90 s") from None
            time.sleep(0.2)
    yield base
    stop_server(proc)
    log.close()


def test_service_description_names_the_release(served):
    sd = Graph().parse(data=requests.get(served + "/sparql", headers={"Accept": "text/turtle"}, timeout=30).text,
                       format="turtle")
    assert Literal(bpkg.__version__) in set(sd.objects(None, OWL.versionInfo))


def test_every_page_the_site_header_links_to_is_served(served):
    """The installed site, not only its home page: every link of the header and footer
    answers (the query guide once failed with 500 from a wheel that lacked docs/querying.md)."""
    home = requests.get(served + "/", timeout=30)
    assert home.status_code == 200
    links = {"/sparql", "/queries", "/guide", "/explore", "/validate", "/ontology", "/shapes", "/dumps/"}
    assert all(f'href="{link}"' in home.text for link in links), "the header changed: update this list"
    for link in sorted(links):
        r = requests.get(served + link, timeout=30, headers={"Accept": "text/html"})
        assert r.status_code == 200, f"{link}: {r.status_code}"


def _console_problems(browser, levels=("SEVERE",)) -> list[dict]:
    # The site has no favicon; Chromium asks for one on its first page of an origin.
    return [e for e in browser.get_log("browser") if e["level"] in levels and "/favicon.ico " not in e["message"]]


def _requests_made(browser) -> list[str]:
    return browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")


@pytest.mark.browser
def test_installed_query_ui_runs_a_query(served, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")
    browser.get(served + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".yasqe_queryButton"))).click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".yasr table tbody tr")) > 1)
    first = requests.get(served + "/sparql", timeout=30, params={"query": """
        PREFIX bp: <https://w3id.org/bpkg/ontology#>
        PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
        SELECT ?label WHERE { ?s a bp:State ; skos:prefLabel ?label FILTER (LANG(?label) = "en") }
        ORDER BY ?label LIMIT 1"""}).json()["results"]["bindings"][0]["label"]["value"]
    assert first in browser.find_element(By.CSS_SELECTOR, ".yasr table").text, "the default query's rows are shown"
    made = _requests_made(browser)
    assert any("/assets/yasgui/yasgui.min.js" in url for url in made)
    assert all(url.startswith(served + "/") for url in made), f"requests left the machine: {made}"
    problems = _console_problems(browser)
    assert not problems, f"console says {problems}"


@pytest.mark.browser
def test_installed_explore_page_draws_three_figures(served, browser, kg):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")
    browser.get(served + "/explore")
    rendered = "return ['map', 'matrix', 'timeline'].every(id => document.getElementById(id).dataset.rendered)"
    WebDriverWait(browser, 60, poll_frequency=0.25).until(lambda d: d.execute_script(rendered))
    for figure in ("map", "matrix", "timeline"):
        assert browser.find_elements(By.CSS_SELECTOR, f"#{figure} svg.marks"), f"no chart in #{figure}"
    labels = browser.execute_script(
        "return [...document.querySelectorAll('#map path')].map(p => p.getAttribute('aria-label') || '')")
    states = {re.search(r"IRI: (state:\w+)", label).group(1) for label in labels if "State: " in label}
    assert len(states) == len(plots.query_rows(kg, "state-map")), "every state is drawn on the bundled world geometry"
    made = _requests_made(browser)
    assert any(url.endswith("/explore/assets/countries-50m.json") for url in made)
    assert all(url.startswith(served + "/") for url in made), f"requests left the machine: {made}"
    problems = _console_problems(browser, ("SEVERE", "WARNING"))
    assert not problems, f"console says {problems}"
