from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# An installed wheel carries content/ inside the package (setup.py copies it to bot/content); a source
# checkout, an editable install included, reads the tree's own content/.
_PACKAGED = Path(__file__).resolve().parent / "content"
CONTENT_DIR = _PACKAGED if _PACKAGED.is_dir() else ROOT / "content"
