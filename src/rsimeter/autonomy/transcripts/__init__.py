"""Readers of agent-session transcripts, one module per format.

Each reader is a generator of :class:`~rsimeter.autonomy.transcripts.common.Event`
and :class:`~rsimeter.autonomy.transcripts.common.SessionMeta` items. It streams the
file, keeps no message text, reports malformed lines (file and line) to a
``Problems`` collector and counts record types it does not know.
"""

from rsimeter.autonomy.transcripts.common import Event, ReadContext, SessionMeta

__all__ = ["Event", "ReadContext", "SessionMeta"]
