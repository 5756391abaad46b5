import sys

from hebbref.cli import main

sys.exit(main())
