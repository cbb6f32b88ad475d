from fme.cli import main

raise SystemExit(main())
