import sys

from fengqiao.cli.main import main

sys.exit(main())
