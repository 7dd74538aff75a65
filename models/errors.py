"""The one exception type that reaches users as a single line (exit status 2).

It lives in the lowest layer so that models, workloads and simulator all raise the same type;
the CLI catches it and prints its message, never a traceback.
"""


class UserError(ValueError):
    """Bad input from a user: a config value, a workload name, a file.

    The message is one line naming where the problem is (file, dotted key or argument), the bad
    value and what is accepted, e.g.
    ``configs/x.yaml: memories.spm_act.banks = 12 (must be a power of two)``.
    """


class ConfigError(UserError):
    """A config (file, ``--set`` or a study's setting) that the config loader or a model refuses: a
    value out of range, a capacity that does not divide into its banks. A study reports the point as
    failed and goes on."""


class UnknownKeyError(ConfigError):
    """A config key that does not exist (or a key used as a section that is not one): a typo, so a
    study stops before anything runs."""


def shown(value: object, limit: int = 80) -> str:
    """``value`` as an error message shows it: its repr (a string as is), cut to ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit - 3] + "..."
