import sys

from fer_kit.cli import main

sys.exit(main())
