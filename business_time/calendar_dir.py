"""The operator's calendar directory: one checked year block per file, `YYYY.yaml`.

`tgw up --calendar-dir DIR` (YAML `clock: {calendar_dir: DIR}`) builds the business calendar from
the shipped data plus the blocks in DIR; `tgw calendar load FILE --calendar-dir DIR` checks a
block and installs it there (atomically: a reader sees the old file or the new one, never half),
and the running gateway picks it up without a restart (gateway/calendar_reload.py). Files in DIR
not named `YYYY.yaml` are ignored, so an editor's backup file does not count.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from business_time.year_block import YearBlock, check_block, parse_block, render_block
from messages.errors import InputError
from messages.files import open_regular, read_error_code, write_atomic
from messages.yamlsafe import load_yaml

__all__ = ["BLOCK_FILE_BYTES_MAX", "Installed", "block_path", "install_block", "read_block_file", "read_blocks"]

# A year block is a few dozen dates with comments; a larger file is not one.
BLOCK_FILE_BYTES_MAX = 64 * 1024
# One file per year: a directory of more than this many years is a mistake, not a calendar.
BLOCK_FILES_MAX = 50
_NAME = re.compile(r"^(\d{4})\.yaml$")


def read_block_file(path: str | Path) -> YearBlock:
    """Read, parse and check one block file."""
    path = Path(path)
    try:
        with open_regular(path) as (f, _):
            raw = f.read(BLOCK_FILE_BYTES_MAX + 1)
    except OSError as exc:
        raise InputError(read_error_code(exc), f"cannot read calendar block {path}: {exc.strerror or exc}") from None
    if len(raw) > BLOCK_FILE_BYTES_MAX:
        raise InputError("calendar-block-invalid", f"{path}: larger than {BLOCK_FILE_BYTES_MAX} bytes")
    try:
        data = load_yaml(raw)
    except yaml.YAMLError as exc:
        raise InputError("calendar-block-invalid", f"{path}: not valid YAML: {exc}") from None
    block = parse_block(data, source=str(path))
    check_block(block, source=str(path))
    return block


def block_path(directory: str | Path, year: int) -> Path:
    return Path(directory) / f"{year:04d}.yaml"


def read_blocks(directory: str | Path) -> list[YearBlock]:
    """Every block in `directory`, checked, by year. A missing directory holds none."""
    directory = Path(directory)
    try:
        names = sorted(entry.name for entry in os.scandir(directory) if _NAME.match(entry.name))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InputError("io-unreadable", f"cannot read calendar directory {directory}: {exc.strerror}") from None
    if len(names) > BLOCK_FILES_MAX:
        raise InputError("calendar-block-invalid", f"{directory}: {len(names)} year files; at most {BLOCK_FILES_MAX}")
    blocks = []
    for name in names:
        block = read_block_file(directory / name)
        if f"{block.year:04d}.yaml" != name:
            raise InputError("calendar-block-invalid", f"{directory / name}: year: {block.year} does not match "
                                                       "the file name")
        blocks.append(block)
    return blocks


@dataclass(frozen=True, slots=True)
class Installed:
    path: Path
    replaced: YearBlock | None  # the block that was there before


def install_block(block: YearBlock, directory: str | Path) -> Installed:
    """Write checked `block` to `directory/YYYY.yaml`, replacing the year's block atomically.

    Refused (`calendar-block-invalid`): a provisional block over an official one (never
    downgrade a year to a guess)."""
    check_block(block)
    directory = Path(directory)
    path = block_path(directory, block.year)
    previous = read_block_file(path) if path.exists() else None
    if block.provisional and previous is not None and not previous.provisional:
        raise InputError("calendar-block-invalid", f"{path} holds the official block of {block.year} "
                                                   f"({previous.notice_title}); a provisional one never replaces it")
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render_block(block))
    return Installed(path, previous)

