"""ipgwsim: a simulator of innovaphone VoIP gateways.

The package is layered (see docs/architecture.md): ``hw_profiles`` (data),
``flash`` (NOR model and on-flash stores), ``proto`` (wire formats),
``boot`` and ``firmware`` (device behaviour, sans-I/O), ``runtime`` (all I/O)
and ``tools`` (command lines).
"""

from __future__ import annotations

__version__ = "0.1.0"
