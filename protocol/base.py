"""What every wire model shares: the base model's rules and the common length limits."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Length limits enforced by the models themselves; what a name may contain is checked by
# protocol.names, which gives errors a more precise code (invalid_nick, invalid_room, ...).
Short = Annotated[str, Field(max_length=256)]
Ref = Annotated[str, Field(max_length=128)]


class WireMessage(BaseModel):
    """Frozen, no unknown fields, no coercion between JSON types, wire aliases accepted."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, populate_by_name=True)
