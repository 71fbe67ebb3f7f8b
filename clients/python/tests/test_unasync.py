"""The blocking consumer is generated from the asyncio one
(``tools/unasync.py``): a stale ``_sync.py`` (``_async.py`` edited, the tool
not run) fails here."""

import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "unasync.py"


def load_tool():
    sys.path.insert(0, str(TOOL.parent))
    try:
        import unasync
    finally:
        sys.path.pop(0)
    return unasync


def test_sync_consumer_is_generated_from_the_async_one() -> None:
    r = subprocess.run(
        [sys.executable, str(TOOL), "--check"], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr


def test_the_generated_consumer_blocks() -> None:
    tool = load_tool()
    generated = tool.unasync(tool.SOURCE.read_text(encoding="utf-8"))
    assert "await " not in generated and "async " not in generated
    assert "class Consumer:" in generated and "time.sleep(" in generated


def test_the_check_fails_on_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = load_tool()
    stale = tmp_path / "_sync.py"
    stale.write_text(tool.TARGET.read_text(encoding="utf-8") + "# edited by hand\n")
    monkeypatch.setattr(tool, "TARGET", stale)
    monkeypatch.setattr(sys, "argv", ["unasync.py", "--check"])
    assert tool.main() == 1
