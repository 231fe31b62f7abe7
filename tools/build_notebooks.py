"""Write notebooks/*.ipynb from tools/nb_*.py (outputs stripped). Run from the repository root."""

import importlib
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from notebook_skeleton import build  # noqa: E402


def main() -> None:
    """Rebuild every notebook whose cell list lives in tools/nb_*.py."""
    for spec in sorted(Path(__file__).parent.glob("nb_*.py")):
        m = importlib.import_module(spec.stem)
        nb = build(m.PATH, m.TITLE, m.OBJECTIVES, m.RUNTIME, m.PARAMETERS, m.BODY, m.SUMMARY, m.EXERCISES)
        nbformat.validate(nb)
        Path(m.PATH).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, m.PATH)
        print("wrote", m.PATH)


if __name__ == "__main__":
    main()
