"""ICD-10-CM texts drawn in a child process: the same texts, and the parsed tree stays out of the run."""
import subprocess
import sys

import pytest

from streams import DataError
from streams.child import in_child


def test_drawn_in_a_child_equals_drawn_here():
    from streams import icd10cm

    assert icd10cm.drawn() == icd10cm.draw()


def test_building_a_builtin_stream_never_imports_the_icd_tree_here():
    code = ("import sys\n"
            "from streams.registry import BUILTIN_STREAMS\n"
            "stream = BUILTIN_STREAMS['icd10cm-chapters'].build(seed=0)\n"
            "assert stream.experiences and 'simple_icd_10_cm' not in sys.modules, sorted(sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_module_found_only_on_this_process_path_runs_in_the_child(tmp_path, monkeypatch):
    (tmp_path / "only_here_module.py").write_text("def value():\n    return {'texts': ('a', 'b'), 'n': 2}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert in_child("only_here_module", "value", package="only-here") == {"texts": ("a", "b"), "n": 2}


def test_a_failing_child_is_one_line_naming_the_package_and_the_fix(tmp_path, monkeypatch):
    (tmp_path / "broken_module.py").write_text("def value():\n    raise ImportError('no tabular list')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DataError) as err:
        in_child("broken_module", "value", package="simple-icd-10-cm")
    message = str(err.value)
    assert "\n" not in message and "ImportError: no tabular list" in message
    assert "pip install --force-reinstall simple-icd-10-cm" in message
