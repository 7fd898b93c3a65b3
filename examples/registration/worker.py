"""The App for separate worker processes: `stoker server --app examples.registration.worker:app`.

Set "server": {"workers": 0} in appsettings.json so the web process runs no jobs itself, then
start as many of these as you like (on PostgreSQL or Redis also on other machines):

    REGISTRATION_SETTINGS=examples/registration/appsettings.json \\
        stoker server --app examples.registration.worker:app --queues mail,backup
"""

from __future__ import annotations

from examples.registration.jobs import active_settings
from examples.registration.system import open_stoker

# The jobs of this process read the same settings (active_settings() caches them).
app = open_stoker(active_settings())
