"""Conversation logs: every message of a room or a DM appended to a file of its own.

The files are `platformdirs.user_data_dir("wirechat")/logs/SERVER/ROOM.log` for a room and
`.../SERVER/@NICK.log` for a direct conversation (`~/.local/share/wirechat/logs/` on Linux, or
`$XDG_DATA_HOME/wirechat/logs/`). One line per message, `2026-12-02 09:14:03 <bob> text`
(an action: `2026-12-02 09:14:03 * bob waves`), in local time, the nick and the text inert
(`chat_client.text.inert`: a control character, a line break of a multi-line message included,
is written as an escape such as `\\x0a`), so a line of the file is always one message.

Names come from the server and from other people, so a file name is never the name as is
(`safe_name`): letters and digits of any script, `-` and `_` are kept, everything else (`/`,
`\\`, `.`, `:`, `%`, spaces, controls, ...) is written as `%XX` per UTF-8 byte, so there is no
path separator, no hidden or dots-only name and no control character. Names are case-folded
first, so `#Lobby` and `#lobby` share a file. A name that would be too long for a file name
is cut and ends with a hash of the whole.

Files are opened on the first line for them, in append mode, private to the user (0600, in
directories made 0700), by `LogWriter` on a thread of its own: the UI only puts lines on a
queue. The thread writes what is queued and flushes after every batch; `close` (on exit)
writes what is left and closes the files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

import platformdirs

from chat_client.text import inert

#: The longest file name stem written, in UTF-8 bytes (file systems allow 255).
MAX_STEM_BYTES = 160
#: Log files kept open at once; the least recently written is closed beyond this.
MAX_OPEN_FILES = 32
_SAFE_PUNCTUATION = frozenset("-_")
#: Names Windows keeps for devices, whatever the extension.
_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))}
)


def log_dir() -> Path:
    """Where the conversation logs go: `user_data_dir("wirechat")/logs`."""
    return Path(platformdirs.user_data_dir("wirechat")) / "logs"


def safe_name(name: str) -> str:
    """`name` as a file name: letters, digits, `-` and `_` kept, the rest as `%XX`."""
    parts: list[str] = []
    for char in name.casefold():
        if (char.isalnum() and char.isprintable()) or char in _SAFE_PUNCTUATION:
            parts.append(char)
        else:
            parts.append("".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass")))
    stem = "".join(parts) or "%00"
    if stem in _DEVICE_NAMES:
        stem = f"%{ord(stem[0]):02X}{stem[1:]}"
    if len(stem.encode("utf-8")) > MAX_STEM_BYTES:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        kept, size = [], 0
        for part in parts:  # whole characters (and whole %XX escapes) only
            size += len(part.encode("utf-8"))
            if size > MAX_STEM_BYTES - len(digest) - 1:
                break
            kept.append(part)
        stem = f"{''.join(kept)}-{digest}"
    return stem


def conversation_file(server: str, name: str, *, dm: bool) -> Path:
    """The path of a conversation's log under `log_dir()`: `SERVER/ROOM.log`, `SERVER/@NICK.log`."""
    return Path(safe_name(server)) / f"{'@' if dm else ''}{safe_name(name)}.log"


def log_line(at: datetime, nick: str, text: str, *, action: bool = False) -> str:
    """One message as a line of a log file (without the newline)."""
    stamp = at.strftime("%Y-%m-%d %H:%M:%S")
    if action:
        return f"{stamp} * {inert(nick)} {inert(text)}"
    return f"{stamp} <{inert(nick)}> {inert(text)}"


class LogWriter:
    """Appends lines to log files under `root` on a thread of its own, started on demand.

    `on_error` is called (on the writer's thread) once per file that cannot be written.
    """

    def __init__(self, root: Path, on_error: Callable[[str], None] | None = None) -> None:
        self.root = root
        self.on_error = on_error
        self._queue: queue.Queue[tuple[Path, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._files: dict[Path, TextIO] = {}  # oldest written first
        self._failed: set[Path] = set()
        self._closed = False

    def write(self, relative: Path, line: str) -> None:
        """Queue `line` for the file `root/relative` (never blocks)."""
        with self._lock:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wirechat-logs", daemon=True)
                self._thread.start()
            self._queue.put((self.root / relative, line))

    def flush(self) -> None:
        """Wait until every line queued so far is written and flushed."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.join()

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued, close the files and end the thread (waits up to `timeout`)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            touched: dict[Path, TextIO] = {}
            for item in batch:
                if item is None:
                    stop = True
                    continue
                path, line = item
                file = self._open(path)
                if file is None:
                    continue
                try:
                    file.write(line + "\n")
                    touched[path] = file
                except OSError as exc:
                    self._fail(path, exc)
            for path, file in touched.items():
                try:
                    file.flush()
                except OSError as exc:
                    self._fail(path, exc)
            if stop:
                for file in self._files.values():
                    with contextlib.suppress(OSError):
                        file.close()
                self._files.clear()
            for _ in batch:
                self._queue.task_done()

    def _open(self, path: Path) -> TextIO | None:
        if path in self._failed:
            return None
        file = self._files.pop(path, None)
        if file is None:
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                file = open(fd, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
            except OSError as exc:
                self._fail(path, exc)
                return None
            while len(self._files) >= MAX_OPEN_FILES:
                oldest = next(iter(self._files))
                with contextlib.suppress(OSError):
                    self._files.pop(oldest).close()
        self._files[path] = file  # now the most recently written
        return file

    def _fail(self, path: Path, exc: OSError) -> None:
        if path in self._failed:
            return
        self._failed.add(path)
        old = self._files.pop(path, None)
        if old is not None:
            with contextlib.suppress(OSError):
                old.close()
        if self.on_error is not None:
            # The UI may be gone already: the log thread goes on all the same.
            with contextlib.suppress(Exception):
                self.on_error(f"not logging to {path}: {exc.strerror or exc}")
