"""The one exception family of obs-bgremover.

Every front end (command line, OBS filter, virtual camera, render worker) catches `BgRemoverError`
and shows its message to the user, so each message names the problem and the thing it concerns
(a path, an expected versus an actual value). Anything else escaping is a bug.
"""


class BgRemoverError(Exception):
    """Base of every error a user can cause and fix."""


class ModelError(BgRemoverError):
    """A matting model cannot be used: unknown name, missing or corrupt file, wrong interface,
    or an execution device that is not available."""


class NetworkStopped(ModelError):
    """The network's process ended (killed, crashed, out of memory): another one can take its
    place, where a network that answers a frame with an error would only fail again."""


class InputError(BgRemoverError):
    """A frame or a media file cannot be used: wrong shape or dtype, unreadable, unsupported
    or empty."""
