"""``python -m deploy.k8s.validate``: check the deployment files (see the package docstring)."""

import sys

from deploy.k8s.validate.cli import main

sys.exit(main())
