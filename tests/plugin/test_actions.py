"""``ow_action``: sources (file, folder, zip, inline), unique names, sequences, and the Action helpers."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.actions import ActionFactory, load_source, name_prefix
from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.zips import deterministic_zip, folder_members

VALID_NAME = re.compile(r"^\w[\w@ .&-]{0,254}[\w@.&-]$")


def test_python_file_kind_is_inferred(tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text("def main(args):\n    return args\n")
    source = load_source("hello.py", tmp_path)
    assert (source.kind, source.binary) == ("python:default", None)
    assert source.code is not None
    assert "def main" in source.code


def test_js_file_and_explicit_kind(tmp_path: Path) -> None:
    (tmp_path / "hello.js").write_text("function main(a) { return a }\n")
    assert load_source(tmp_path / "hello.js", tmp_path).kind == "nodejs:default"
    assert load_source("hello.js", tmp_path, kind="nodejs:18").kind == "nodejs:18"


def test_python_folder_is_zipped_with_entry_point(tmp_path: Path) -> None:
    folder = tmp_path / "fn"
    (folder / "lib").mkdir(parents=True)
    (folder / "__main__.py").write_text("from lib.x import f\ndef main(a):\n    return f()\n")
    (folder / "lib" / "x.py").write_text("def f():\n    return {'ok': True}\n")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "junk.pyc").write_bytes(b"x")
    source = load_source("fn", tmp_path)
    assert source.kind == "python:default"
    assert source.binary is not None
    names = zipfile.ZipFile(io.BytesIO(source.binary)).namelist()
    assert sorted(names) == ["__main__.py", "lib/x.py"]


def test_folder_zip_is_deterministic(tmp_path: Path) -> None:
    """Same content, same bytes: a later modification time or a new cache file changes nothing."""
    import os

    (tmp_path / "index.js").write_text("exports.main = () => ({})\n")
    first = deterministic_zip(folder_members(tmp_path))
    os.utime(tmp_path / "index.js", (2_000_000_000, 2_000_000_000))
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: x\n")
    assert deterministic_zip(folder_members(tmp_path)) == first
    info = zipfile.ZipFile(io.BytesIO(first)).getinfo("index.js")
    assert info.date_time == (1980, 1, 1, 0, 0, 0)


def test_node_folder_by_package_json(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"main": "app.js"}')
    (tmp_path / "app.js").write_text("exports.main = () => ({})\n")
    assert load_source(tmp_path, tmp_path).kind == "nodejs:default"


def test_folder_without_entry_point_names_path_and_fix(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(
        ConfigError, match=r"'.*empty' has no entry point: add __main__.py \(Python\) or package"
    ):
        load_source("empty", tmp_path)


def test_zip_file_kind_from_entries(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("__main__.py", "def main(a):\n    return a\n")
    (tmp_path / "fn.zip").write_bytes(buffer.getvalue())
    source = load_source("fn.zip", tmp_path)
    assert (source.kind, source.binary) == ("python:default", buffer.getvalue())


def test_missing_source_names_path_and_root(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"action source '.*nope\.py' does not exist; give a \.py/\.js file"
    ):
        load_source("nope.py", tmp_path)


def test_unknown_extension_asks_for_kind(tmp_path: Path) -> None:
    (tmp_path / "fn.rb").write_text("def main(a) a end")
    with pytest.raises(
        ConfigError, match=r"cannot infer the runtime of '.*fn\.rb' from its extension '\.rb'.*kind="
    ):
        load_source("fn.rb", tmp_path)


def test_name_prefix_is_valid_and_unique() -> None:
    first = name_prefix("test_hello[param/with spaces é]")
    second = name_prefix("test_hello[param/with spaces é]")
    assert first != second
    assert first.startswith("test_hello-param-with-spaces")
    assert VALID_NAME.match(first)
    assert "/" not in first


def test_factory_rejects_bad_names_and_sources(tmp_path: Path) -> None:
    factory = ActionFactory(OpenWhiskClient("http://127.0.0.1:9", "u:k"), "p", tmp_path)
    with pytest.raises(ConfigError, match=r"invalid action name 'a/b'"):
        factory("a/b", code="def main(a): return a")
    with pytest.raises(ConfigError, match=r"give either a source path .* or code='...', not both"):
        factory("x", "x.py", code="def main(a): return a")
    with pytest.raises(ConfigError, match="not neither"):
        factory("x")
    with pytest.raises(ConfigError, match="needs at least one component"):
        factory.sequence("s", [])


# -- against the standalone server ------------------------------------------------------------------


def test_factory_deploys_invokes_and_deletes(standalone: Any, tmp_path: Path) -> None:
    (tmp_path / "echo.py").write_text(
        "def main(args):\n    return {'echo': args.get('x'), 'p': args.get('p')}\n"
    )
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "__main__.py").write_text("def main(args):\n    return {'zipped': True}\n")
    registry: set[str] = set()
    with standalone.client() as client:
        factory = ActionFactory(client, name_prefix("test_factory"), tmp_path, registry=registry)
        echo = factory("echo", "echo.py", params={"p": 1}, memory=128, timeout=5000)
        zipped = factory("zipped", "fn")
        inline = factory("inline", code="def main(a):\n    return {'n': a['n'] + 1}\n")
        seq = factory.sequence("chain", [inline, "inline"])
        assert echo.name.startswith("test_factory-")
        assert echo.name.endswith("-echo")
        assert echo.base_name == "echo"
        assert echo.kind.startswith("python:")
        assert seq.is_sequence
        assert registry == {echo.name, zipped.name, inline.name, seq.name}
        stored = client.get_action(echo.name)
        assert stored["limits"]["memory"] == 128
        assert stored["limits"]["timeout"] == 5000
        assert echo.result({"x": 7}) == {"echo": 7, "p": 1}
        assert zipped.result() == {"zipped": True}
        assert seq.result({"n": 1}) == {"n": 3}
        outcome = echo.invoke({"x": 1})
        assert outcome.ok
        assert outcome.result == {"echo": 1, "p": 1}
        assert [a["activationId"] for a in echo.activations(limit=1)] == [outcome.activation_id]
        factory.delete_all()
        assert registry == set()
        left = {a["name"] for a in client.list_actions(limit=200)}
        assert not left & {echo.name, zipped.name, inline.name, seq.name}


def test_ow_action_fixture_end_to_end(pytester: pytest.Pytester, standalone: Any) -> None:
    (pytester.path / "functions").mkdir()
    (pytester.path / "functions" / "hello.py").write_text(
        "def main(args):\n    return {'greeting': 'Hello ' + args.get('name', 'stranger')}\n"
    )
    pytester.makepyfile(
        """
        from pytest_openwhisk import ActivationFailed
        import pytest

        def test_file(ow_action):
            hello = ow_action("hello", "functions/hello.py")
            assert hello.result({"name": "Ada"}) == {"greeting": "Hello Ada"}

        def test_inline_and_failure(ow_action):
            bad = ow_action("bad", code="def main(a):\\n    raise ValueError('nope')\\n")
            with pytest.raises(ActivationFailed, match="nope"):
                bad.result()
            assert bad.invoke().http_status == 502

        def test_sequence(ow_action):
            inc = ow_action("inc", code="def main(a):\\n    return {'n': a.get('n', 0) + 1}\\n")
            seq = ow_action.sequence("three", [inc, inc, inc])
            assert seq.result({"n": 0}) == {"n": 3}
        """
    )
    result = pytester.runpytest(*standalone.args())
    result.assert_outcomes(passed=3)
    assert standalone.leftovers() == []
