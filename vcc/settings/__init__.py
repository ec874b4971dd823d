"""Settings for the VCC deal intake, read from the environment, one module per concern.

Every knob is an environment variable (README: the table); defaults are safe for production
(DEBUG off, secure cookies). With DATABASE_URL / CELERY_BROKER_URL unset they name bin/run's
embedded PostgreSQL and Redis (vcc/engines/), on unix sockets under var/dev/. The parts are
read in this order; each later one adds to Celery's beat schedule (celery_conf) its own
entries.
"""

from .api import *  # noqa: F403
from .base import *  # noqa: F403
from .celery_conf import *  # noqa: F403
from .hubspot import *  # noqa: F403
from .insights import *  # noqa: F403
from .pipeline import *  # noqa: F403
from .security import *  # noqa: F403
