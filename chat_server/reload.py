"""A reload (SIGHUP): read the settings again and apply what can change while serving.

The backends call `reload` on the core's thread (under the core lock for the thread
backends). The file and the environment are read again, and the flags given at start still
win. Each setting that changed is logged on one line (`reload: motd: 'a' -> 'b'`). One that
cannot change while serving (the backend, where to listen, the store, the HTTP and UDP
addresses...) is named in the log and keeps its old value until a restart. Settings with a
problem change nothing: the problems are logged and the old settings stay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from chat_server.core import CoreConfig, Hub
from chat_server.core.reconfigure import RELOADABLE
from chat_server.settings import Loaded, Settings, SettingsError, about, core_config, shown

log = logging.getLogger("chat_server")


def is_live(name: str) -> bool:
    """Whether setting `name` takes effect on a reload (else it waits for a restart)."""
    if name == "log_level":
        return True
    target = about(name).get("core")
    return target is not None and target.split(".")[0] in RELOADABLE


def reload(
    hub: Hub, current: Loaded, fit: Callable[[CoreConfig], CoreConfig] = lambda c: c
) -> Loaded:
    """Read the settings again and apply them to `hub`; return what is now in effect (the
    new settings, but the old value of each that cannot change live). `fit` adjusts the
    core's settings as at start (the CLI lowers max_clients to what descriptors allow).
    Never raises: a failure is logged, and `current` stays."""
    try:
        return _reload(hub, current, fit)
    except Exception:
        log.exception("reload: failed; the settings are unchanged")
        return current


def _reload(hub: Hub, current: Loaded, fit: Callable[[CoreConfig], CoreConfig]) -> Loaded:
    log.info("reload: reading %s", current.file or "the environment (no settings file)")
    try:
        new = current.reloaded()
    except SettingsError as exc:
        for problem in exc.problems:
            log.error("reload: %s", problem)
        log.error("reload: the settings are unchanged")
        return current
    old_settings, new_settings = current.settings, new.settings
    kept: dict[str, object] = {}
    for name in Settings.model_fields:
        before, after = getattr(old_settings, name), getattr(new_settings, name)
        if before == after:
            continue
        change = f"{shown(name, before)} -> {shown(name, after)}"
        if is_live(name):
            log.info("reload: %s: %s", name, change)
        else:
            log.warning(
                "reload: %s: %s needs a restart; keeping %s", name, change, shown(name, before)
            )
            kept[name] = before
    if new_settings == old_settings:
        log.info("reload: nothing changed")
        return new
    settings = new_settings.model_copy(update=kept)
    origins = {**new.origins, **{name: current.origins[name] for name in kept}}
    hub.reconfigure(fit(core_config(settings)))
    logging.getLogger().setLevel(settings.log_level.upper())
    return Loaded(
        settings,
        origins,
        new.file,
        current.flags,
        current.config,
        current.use_file,
        current.use_env,
    )
