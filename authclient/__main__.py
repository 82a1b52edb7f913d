"""`python -m authclient`: the same command line as the `authclient` console script."""

from authclient.cli import main

raise SystemExit(main())
