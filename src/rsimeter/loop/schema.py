"""Tables of the loop pillar: ordered migrations, applied by rsimeter.store.

Append new migrations; never edit one that has shipped.
"""

MIGRATIONS: list[str] = []
