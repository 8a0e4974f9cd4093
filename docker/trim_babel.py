"""Build step: drop Babel's locale data for languages the app has no catalogue for (~30 MB).

The app only ever selects English or a language under flaskyard/translations/ (see
flaskyard.i18n.select_locale), so the other ~1,000 locale files are dead weight in the image.
"""

from __future__ import annotations

import sys
from pathlib import Path

import babel

from flaskyard.i18n import available_locales


def main() -> int:
    """Delete unused ``babel/locale-data/*.dat`` files and say how many went."""
    keep = {"root", *(name.split("_")[0] for name in available_locales())}
    data = Path(babel.__file__).parent / "locale-data"
    removed = 0
    for path in data.glob("*.dat"):
        if path.stem.split("_")[0] not in keep:
            path.unlink()
            removed += 1
    print(f"trim_babel: kept locales {', '.join(sorted(keep))}; removed {removed} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
