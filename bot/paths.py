import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# An installed wheel carries content/ inside the package (setup.py copies it to bot/content); a source
# checkout, an editable install included, reads the tree's own content/.
_PACKAGED = Path(__file__).resolve().parent / "content"
CONTENT_DIR = _PACKAGED if _PACKAGED.is_dir() else ROOT / "content"


def private_dir(folder: Path) -> None:
    """Create `folder` and any missing parents as 0700 (the umask cannot widen them): the data and
    backup folders hold phone numbers and consent records (#24 item 9). A folder that exists is
    left as its owner set it (it may be shared, e.g. /var/lib)."""
    missing: list[Path] = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, 0o700)


def private_file(path: Path) -> None:
    """Create `path` empty as 0600 (its folder as `private_dir`): what a backup or an export writes
    into it is readable by the owner alone (#24 item 9)."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
    os.chmod(path, 0o600)
